"""ansible-test sanity on the collection, as Galaxy and Automation Hub hold a collection to it.

ansible-test runs with --local (there are no containers here, and --venv needs a download that only
ansible-test's own file host serves), from the virtualenvs of the controller matrix (tests/support/pythons.py):
the oldest ansible-core on its Python, and the newest on its. The newest (2.22) pins its pylint's dill to an
archive on GitHub, which the package index does not serve; its pylint test runs with the newest release whose
requirements the index has (2.21, whose pylint is 4.0 as 2.22's is), and the hosted CI's sanity jobs
(.github/workflows/ci.yml) run 2.22's own.
Tests with requirements (pylint, pep8, yamllint, validate-modules, ...) still
get the pinned tools of this ansible-core in virtual environments of their
own, cached under a HOME kept in the temp folder between runs. To put pip in
those environments ansible-test fetches get-pip.py from that same file host;
pip_bootstrap.py, saved where ansible-test caches that script, does the job
from the package index instead.

no-unwanted-files is a test of ansible-core's own tree that ansible-test does
not offer for collections; test_build.py checks the built tarball instead.
"""

from __future__ import annotations

import fcntl
import glob
import os
import subprocess
import re
import shutil
import tempfile

import pytest

from tests.support import pythons

HERE = os.path.dirname(os.path.abspath(__file__))
# The tests the release issue names first, then the cheap ones that hold documentation and metadata to the code.
SANITY_TESTS = [
    "validate-modules", "pep8", "pylint", "compile", "import", "yamllint", "shebang",
    "ansible-doc", "action-plugin-docs", "changelog", "runtime-metadata", "empty-init", "ignores",
    "line-endings", "no-smart-quotes", "no-assert", "no-get-exception", "no-illegal-filenames", "symlinks",
    "replace-urlopen", "use-argspec-type-path", "use-compat-six",
]
RUNNING = re.compile(r'^Running sanity test "([\w-]+)"')
OLDEST, NEWEST, NEWEST_PYLINT = pythons.CONTROLLERS[0], pythons.CONTROLLERS[-1], pythons.CONTROLLERS[-2]
# (run, controller, the sanity tests it runs)
RUNS = [
    ("oldest", OLDEST, SANITY_TESTS),
    ("newest", NEWEST, [name for name in SANITY_TESTS if name != "pylint"]),
    ("newest-pylint", NEWEST_PYLINT, ["pylint"]),
]
CASES = [(key, name) for key, _controller, names in RUNS for name in names]


def pip_version_wanted(venv):
    """The pip version a virtualenv's ansible-test puts into its own (it names its bootstrap script after it)."""
    found = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "ansible_test", "_internal",
                                   "python_requirements.py"))
    assert found, "no ansible-test in %s" % venv
    with open(found[0], encoding="utf-8") as handle:
        wanted = re.search(r"\bpip='([0-9.]+)'", handle.read())
    assert wanted, "cannot tell which pip ansible-test bootstraps: read %s" % found[0]
    return wanted.group(1)


def sanity_home(venv):
    """A HOME for ansible-test whose cache holds the pip bootstrap; kept between runs so its venvs are reused."""
    home = os.path.join(tempfile.gettempdir(), "ceds-generate-ansible-test-%d" % os.getuid())
    cache = os.path.join(home, ".ansible", "test", "cache")
    os.makedirs(cache, exist_ok=True)
    # ansible-test passes pip no variable but HOME: share the user's pip cache so a first run downloads less.
    pip_cache = os.path.join(home, ".cache", "pip")
    if not os.path.lexists(pip_cache):
        users_cache = os.path.expanduser(os.path.join("~", ".cache", "pip"))
        os.makedirs(users_cache, exist_ok=True)
        os.makedirs(os.path.dirname(pip_cache), exist_ok=True)
        os.symlink(users_cache, pip_cache)
    shutil.copyfile(os.path.join(HERE, "pip_bootstrap.py"),
                    os.path.join(cache, "get_pip_%s.py" % pip_version_wanted(venv).replace(".", "_")))
    return home


def split_by_test(output):
    """``{sanity test name: the lines it printed}`` from ansible-test's output."""
    lines_of = {}
    current = None
    for line in output.splitlines():
        started = RUNNING.match(line)
        if started:
            current = started.group(1)
            lines_of.setdefault(current, [])
        elif line.startswith("FATAL: The "):
            # The closing list of failed tests belongs to none of them.
            current = None
        elif current:
            lines_of[current].append(line)
    return lines_of


class SanityRuns:
    """The sanity runs of RUNS, each made once, when a test first asks for it."""

    def __init__(self, tree):
        self.tree = tree
        self.done = {}

    def __getitem__(self, key):
        if key not in self.done:
            self.done[key] = self.run(*[entry for entry in RUNS if entry[0] == key][0][1:])
        return self.done[key]

    def run(self, controller, names):
        """``(completed process, {test name: its lines})`` of one ansible-test sanity run."""
        venv = pythons.virtualenv(controller)
        if venv is None:
            pytest.skip("python%s is not on this machine: install it to run ansible-test of ansible-core %s"
                        % (controller.python, controller.core))
        command = [os.path.join(venv, "bin", "ansible-test"), "sanity", "--local", "--python", controller.python,
                   "--color", "no"]
        for name in names:
            command += ["--test", name]
        home = sanity_home(venv)
        # ansible-test finds python<version> on PATH: put the virtualenv's first.
        environment = dict(os.environ, HOME=home, ANSIBLE_NOCOLOR="1",
                           PATH=os.pathsep.join([os.path.join(venv, "bin"), os.environ.get("PATH", "")]))
        # Runs at once (pytest-xdist workers, two checkouts) would build the same cached venvs over each other.
        with open(os.path.join(home, "lock"), "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            completed = subprocess.run(command, cwd=self.tree, env=environment, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
        return completed, split_by_test(completed.stdout)


@pytest.fixture(scope="session")
def sanity(collection_tree):
    return SanityRuns(collection_tree)


@pytest.mark.slow
@pytest.mark.parametrize("key, name", CASES, ids=["%s-%s" % case for case in CASES])
def test_sanity_test_passes(sanity, key, name):
    completed, lines_of = sanity[key]
    assert name in lines_of, "ansible-test did not run %s:\n%s" % (name, completed.stdout[-4000:])
    problems = [line for line in lines_of[name] if line.startswith(("ERROR", "FATAL", "Skipping"))]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("key", [entry[0] for entry in RUNS])
def test_sanity_run_succeeds(sanity, key):
    completed, _lines_of = sanity[key]
    assert completed.returncode == 0, completed.stdout[-6000:]


def test_no_sanity_ignores_without_a_reason():
    folder = os.path.join(os.path.dirname(HERE), "sanity")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            entries = [line for line in handle.read().splitlines() if line.strip() and not line.startswith("#")]
        assert all("#" in entry for entry in entries), "%s has ignores without a reason" % name
