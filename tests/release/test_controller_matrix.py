"""The tests of what can differ between ansible-core releases, on every controller the collection claims.

Each controller of tests/support/pythons.py (an ansible-core release on a controller Python) gets a virtualenv of
its own in .cache/controllers, made once and kept, so later runs only test. All of them run at once, side by
side, each a pytest run of its own of:

- the module on both of its paths (Ansible's worker and a module process, which must give the same records) and
  the worker path's adapter to ansible-core's internals (plugins/plugin_utils/task_environment.py);
- the playbooks, the recovery and the Hangfire scenarios, through ansible-playbook;
- AWX's fact cache, as the execution environment's settings make ansible-core write it;
- the tarball that ansible-galaxy builds, installed with no override and run from there.

What is the same on every release, the databases and Generate's version lines, is tested by the main run
(PostgreSQL and SQLite, every line); a matrix run takes SQLite and the newest line (pythons.MATRIX_RUN).
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import pythons
from release_run import ROOT, run

# The files of the tests marked every_release; a matrix run takes those tests only.
TESTS = ["tests/integration/test_data_migrations.py", "tests/integration/test_hangfire_evidence.py",
         "tests/integration/test_playbooks.py", "tests/integration/test_recovery.py",
         "tests/integration/test_run_summary.py",
         "tests/integration/test_secrets.py", "tests/integration/test_where_it_runs.py",
         "tests/integration/test_awx_fact_cache.py", "tests/release/test_build.py"]
RUN_TIMEOUT = 1500


class MatrixRun:
    """One controller's pytest run, started in the background."""

    def __init__(self, controller, folder, basetemp):
        self.controller = controller
        self.folder = folder
        self.log = os.path.join(basetemp, "%s.log" % controller.name)
        self.started = time.monotonic()
        self.seconds = None
        environment = dict(os.environ, PATH=os.path.join(folder, "bin") + os.pathsep + os.environ.get("PATH", ""))
        environment[pythons.MATRIX_RUN] = "1"
        environment.pop("PYTHONPATH", None)
        with open(self.log, "w", encoding="utf-8") as output:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [os.path.join(folder, "bin", "python"), "-m", "pytest", "-q", "-m", "every_release and not slow", "-p", "no:randomly",
                 "--basetemp", os.path.join(basetemp, controller.name)] + TESTS,
                cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait(self):
        """The run's exit code and output, once it has ended."""
        try:
            code = self.process.wait(timeout=max(1, RUN_TIMEOUT - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
        with open(self.log, encoding="utf-8") as handle:
            return code, handle.read()


PYTHONS = dict((version, pythons.python_of(version)) for version in pythons.SUPPORTED_PYTHONS)


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    """Every controller's run, all started at once (after their virtualenvs are ready)."""
    basetemp = str(tmp_path_factory.mktemp("matrix"))
    here = [controller for controller in pythons.CONTROLLERS if PYTHONS[controller.python]]
    # pip's downloads and builds, several at once.
    with ThreadPoolExecutor(max_workers=len(here) or 1) as pool:
        folders = list(pool.map(pythons.virtualenv, here))
    ready = zip(here, folders)
    runs = dict((controller.name, MatrixRun(controller, folder, basetemp)) for controller, folder in ready)
    yield runs
    for each in runs.values():
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("controller", pythons.CONTROLLERS, ids=[each.name for each in pythons.CONTROLLERS])
def test_the_tests_of_what_differs_between_releases_pass_on_this_controller(controller, matrix):
    if not PYTHONS[controller.python]:
        pytest.skip("python%s is not on this machine: install it (pyenv install %s, or the distribution's package) "
                    "to test ansible-core %s" % (controller.python, controller.python, controller.core))
    code, output = matrix[controller.name].wait()
    lines = output.strip().splitlines()
    assert lines, "the run of %s printed nothing" % controller.name
    print("%s: %s in %.0f s" % (controller.name, lines[-1], matrix[controller.name].seconds))
    assert code == 0, output[-8000:]
    assert " passed" in lines[-1] and "skipped" not in lines[-1], output[-3000:]
    found = run([os.path.join(matrix[controller.name].folder, "bin", "python"), "-c",
                 "import sys, ansible; print('%d.%d' % sys.version_info[:2], ansible.__version__)"]).stdout.split()
    assert found[0] == controller.python and found[1].startswith(controller.core + "."), found
