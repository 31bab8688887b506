"""The module and playbook integration tests on the other controllers the collection claims.

The main run is the virtualenv of ./dev (Python 3.11, the newest ansible-core 2.19). Here the same
integration tests run again in virtualenvs of their own: the lowest supported Python with the lowest
supported ansible-core, and the highest supported Python with the highest ansible-core (with 3.12 and
2.18 between them when the machine has 3.12). Each virtualenv is kept in .cache/controllers, so later
runs only test.
"""

from __future__ import annotations

import os
import subprocess

import pytest

import pythons
from release_run import ROOT, run

CORES = {"3.11": "ansible-core>=2.17,<2.18", "3.12": "ansible-core>=2.18,<2.19", "3.13": "ansible-core>=2.19,<2.20"}
# Only what the integration tests import: the collection's own requirement, the test runner and its plugins.
PACKAGES = ["pyodbc>=4.0.39", "pytest>=8", "pytest-ansible>=25", "pytest-xdist>=3", "pyyaml"]
# The module and playbook tests, and the worker-side actions, whose adapter to ansible-core's internals
# (plugins/plugin_utils/task_environment.py) each ansible-core must keep working.
TESTS = ["tests/integration/test_data_migrations.py", "tests/integration/test_hangfire_evidence.py",
         "tests/integration/test_playbooks.py", "tests/integration/test_recovery.py",
         "tests/integration/test_where_it_runs.py"]


def controllers():
    """(Python version, its path, ansible-core requirement) of every controller tested here."""
    found = dict(pythons.lowest_and_highest())
    middle = pythons.python_of("3.12")
    if middle and "3.12" not in found:
        found["3.12"] = middle
    return [(version, found[version], CORES[version]) for version in sorted(found)]


def virtualenv(version, python, core):
    """A virtualenv of ``python`` with ``core`` and the test packages, made once and kept."""
    folder = os.path.join(ROOT, ".cache", "controllers", "python%s" % version)
    stamp = os.path.join(folder, ".requirements")
    wanted = "\n".join([core] + PACKAGES)
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return folder
    subprocess.run([python, "-m", "venv", "--clear", folder], check=True)
    installed = run([os.path.join(folder, "bin", "python"), "-m", "pip", "install", "-q", core] + PACKAGES,
                    timeout=900)
    assert installed.returncode == 0, installed.stdout[-4000:]
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    return folder


CONTROLLERS = controllers()


@pytest.mark.slow
@pytest.mark.parametrize("version, python, core", CONTROLLERS, ids=["python%s" % entry[0] for entry in CONTROLLERS])
def test_integration_tests_pass_on_this_controller(version, python, core, tmp_path):
    folder = virtualenv(version, python, core)
    interpreter = os.path.join(folder, "bin", "python")
    found = run([interpreter, "-c", "import sys, ansible; print('%d.%d' % sys.version_info[:2], ansible.__version__)"])
    assert found.stdout.split()[0] == version and found.stdout.split()[1].startswith(core.split(">=")[1][:4]), (
        found.stdout)
    completed = run([interpreter, "-m", "pytest", "-q", "-m", "not slow", "-n", "2", "--basetemp", str(tmp_path / "t"),
                     "-p", "no:randomly"] + TESTS, env={"PATH": os.path.join(folder, "bin") + os.pathsep
                                                        + os.environ.get("PATH", "")}, timeout=1200)
    assert completed.returncode == 0, completed.stdout[-6000:]
    assert " passed" in completed.stdout.splitlines()[-1], completed.stdout[-2000:]
