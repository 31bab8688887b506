"""The changelog: fragments and changelog.yaml pass antsibull-changelog's lint, CHANGELOG.rst is generated from them."""

from __future__ import annotations

import os
import shutil

import yaml

from release_run import ROOT, run, tool


def galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["version"]


def test_fragments_pass_the_changelog_lint():
    completed = run([tool("antsibull-changelog"), "lint"])
    assert completed.returncode == 0 and not completed.stdout.strip(), completed.stdout


def test_changelog_yaml_passes_its_lint():
    completed = run([tool("antsibull-changelog"), "lint-changelog-yaml", "changelogs/changelog.yaml"])
    assert completed.returncode == 0 and not completed.stdout.strip(), completed.stdout


def test_the_galaxy_version_is_a_release_in_the_changelog():
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        releases = yaml.safe_load(handle)["releases"]
    assert str(galaxy_version()) in releases


def test_changelog_rst_is_what_antsibull_changelog_generates(tmp_path):
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(os.path.join(ROOT, name), str(tmp_path / name))
    shutil.copytree(os.path.join(ROOT, "changelogs"), str(tmp_path / "changelogs"))
    completed = run([tool("antsibull-changelog"), "generate"], cwd=str(tmp_path))
    assert completed.returncode == 0, completed.stdout
    with open(os.path.join(ROOT, "CHANGELOG.rst"), encoding="utf-8") as committed, \
            open(str(tmp_path / "CHANGELOG.rst"), encoding="utf-8") as generated:
        assert committed.read() == generated.read(), "CHANGELOG.rst is stale: run antsibull-changelog generate"
