"""The collection as users get it: built with ansible-galaxy, installed from the tarball, run from there.

The build runs on a copy of the collection into which the files a developer's
checkout holds (virtualenv, caches, test output, reports, benchmark results,
an older tarball) are planted, so the test proves build_ignore keeps them out.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import tarfile

import pytest
import yaml

from tests.support import ansible_run
from tests.support import generate_db
from release_run import ROOT, collection_files, run, tool
from tests.support.scenarios import FAILED

pytestmark = pytest.mark.every_release
# Files of a development checkout that must never reach the tarball, each planted before the build.
DEVELOPMENT_FILES = [
    ".venv/bin/python",
    ".cache/collections/marker",
    ".pytest_cache/v/cache/nodeids",
    ".ansible/collections/marker",
    ".github/workflows/extra.yml",
    ".ci/run",
    "tests/output/junit/sanity.xml",
    "tests/release/__pycache__/test_build.cpython-311.pyc",
    "plugins/module_utils/__pycache__/database.cpython-311.pyc",
    "plugins/modules/stale.pyc",
    "reports/summary.json",
    "bench/results/latest.json",
    "demo/run/generate.db",
    "ceds-generate-0.1.0.tar.gz",
    "dev",
]
INSTALLED = os.path.join("ansible_collections", "ceds", "generate")


def galaxy():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The tarball ansible-galaxy builds from a checkout full of development files."""
    checkout = tmp_path_factory.mktemp("checkout")
    for path in collection_files() + DEVELOPMENT_FILES:
        target = checkout / path
        target.parent.mkdir(parents=True, exist_ok=True)
        source = os.path.join(ROOT, path)
        if os.path.isfile(source):
            shutil.copy2(source, str(target))
        else:
            target.write_text("planted by the build test\n", encoding="utf-8")
    output = tmp_path_factory.mktemp("built")
    completed = run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(output), str(checkout)])
    assert completed.returncode == 0, completed.stdout
    built = glob.glob(str(output / "*.tar.gz"))
    assert len(built) == 1, completed.stdout
    return built[0]


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(tarball) as archive:
        return set(member.name for member in archive.getmembers() if member.isfile())


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """An empty collections path with only the tarball installed into it."""
    path = tmp_path_factory.mktemp("collections")
    completed = run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(path), tarball])
    assert completed.returncode == 0, completed.stdout
    assert os.listdir(str(path / "ansible_collections")) == ["ceds"]
    return str(path)


def test_tarball_is_named_after_the_galaxy_version(tarball):
    assert os.path.basename(tarball) == "ceds-generate-%s.tar.gz" % galaxy()["version"]


@pytest.mark.parametrize("path", DEVELOPMENT_FILES)
def test_development_files_stay_out_of_the_tarball(members, path):
    assert path not in members
    assert not any(member.startswith(path + "/") for member in members)


def test_tarball_holds_no_bytecode_or_caches(members):
    assert not [m for m in members if m.endswith(".pyc") or "__pycache__" in m or m.startswith((".", "tests/output"))]


def test_tarball_holds_every_plugin_playbook_and_the_changelog(members):
    wanted = [path for path in collection_files() if path.startswith(("plugins/", "meta/", "playbooks/", "changelogs/"))]
    wanted += ["README.md", "CHANGELOG.rst", "MANIFEST.json", "FILES.json"]
    assert sorted(set(wanted) - members) == []


def test_manifest_carries_the_galaxy_metadata(tarball):
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("ceds", "generate", galaxy()["version"])
    assert manifest["license"] == ["GPL-3.0-or-later"]


def test_installed_collection_is_listed_with_its_version(installed):
    completed = run([tool("ansible-galaxy"), "collection", "list", "ceds.generate", "--format", "json", "-p", installed],
                    env={"ANSIBLE_COLLECTIONS_PATH": installed})
    assert completed.returncode == 0, completed.stdout
    listing = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert listing[os.path.join(installed, "ansible_collections")]["ceds.generate"]["version"] == galaxy()["version"]


def test_module_runs_from_the_installed_collection(installed, tmp_path):
    database = generate_db.sqlite_database(str(tmp_path / "generate.db"))
    database.seed(FAILED)
    # The first task runs in Ansible's worker (a local connection), the second, async, as a module process.
    result = ansible_run.run_tasks([("reset", database.module_args(state="reset")),
                                    ("status", database.module_args(), {"async": 60, "poll": 1})],
                                   verbosity=3, workdir=str(tmp_path), env={"ANSIBLE_COLLECTIONS_PATH": installed})
    assert "Using module file %s" % os.path.join(installed, INSTALLED, "plugins", "modules", "data_migrations.py") \
        in result.output
    # The collection claims this ansible-core: no override is needed, and none is warned about.
    assert "does not support Ansible version" not in result.output, result.output
    records = result.by_task()
    assert records["reset"]["result"]["changed"] is True, result.output
    assert records["status"]["result"]["ansible_facts"]["generate_migrations"]["state"] == "ok", result.output
    assert database.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_playbook_with_the_action_group_runs_from_the_installed_collection(installed, tmp_path):
    database = generate_db.sqlite_database(str(tmp_path / "generate.db"))
    database.seed(FAILED)
    playbook = tmp_path / "reset.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Reset failed Generate migrations",
        "hosts": "generate",
        "gather_facts": False,
        "module_defaults": {"group/ceds.generate.database": database.module_args()},
        "tasks": [
            {"name": "Reset when needed and safe", "ceds.generate.data_migrations": {"state": "reset"}},
            {"name": "Report afterwards", "ceds.generate.data_migrations": {}, "register": "after"},
            {"name": "Every step is back to success", "ansible.builtin.assert": {
                "that": ["after.ansible_facts.generate_migrations.state == 'ok'"]}},
        ],
    }]), encoding="utf-8")
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[generate]\nsis ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable,
                         encoding="utf-8")
    result = ansible_run.run_playbook(str(playbook), str(inventory), workdir=str(tmp_path),
                                      env={"ANSIBLE_COLLECTIONS_PATH": installed})
    assert result.rc == 0, result.output
    assert [record["status"] for record in result.records] == ["ok", "ok", "ok"], result.output
    assert database.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_shipped_playbooks_resolve_from_the_installed_collection(installed, tmp_path):
    shipped = sorted(os.path.splitext(name)[0] for name in os.listdir(os.path.join(installed, INSTALLED, "playbooks"))
                     if name.endswith(".yml"))
    assert shipped
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[generate]\nsis ansible_connection=local\n", encoding="utf-8")
    for name in shipped:
        completed = run([tool("ansible-playbook"), "--syntax-check", "-i", str(inventory), "ceds.generate.%s" % name],
                        cwd=str(tmp_path), env={"ANSIBLE_COLLECTIONS_PATH": installed})
        assert completed.returncode == 0, "%s:\n%s" % (name, completed.stdout)
