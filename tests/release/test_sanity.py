"""ansible-test sanity on the collection, as Galaxy and Automation Hub hold a collection to it.

ansible-test runs with --local, once with the lowest and once with the highest
supported controller Python this machine has (tests/support/pythons.py): there are no containers here,
and --venv needs a download that only ansible-test's own file host serves.
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
import os
import re
import shutil
import tempfile

import pytest

import pythons
from release_run import run, tool

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHONS = pythons.lowest_and_highest()
# The tests the release issue names first, then the cheap ones that hold documentation and metadata to the code.
SANITY_TESTS = [
    "validate-modules", "pep8", "pylint", "compile", "import", "yamllint", "shebang",
    "ansible-doc", "action-plugin-docs", "changelog", "runtime-metadata", "empty-init", "ignores",
    "line-endings", "no-smart-quotes", "no-assert", "no-get-exception", "no-illegal-filenames", "symlinks",
    "replace-urlopen", "use-argspec-type-path", "use-compat-six",
]
RUNNING = re.compile(r'^Running sanity test "([\w-]+)"')


def pip_version_wanted():
    """The pip version ansible-test puts into its virtual environments (it names its bootstrap script after it)."""
    import ansible_test  # pylint: disable=import-outside-toplevel
    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source, encoding="utf-8") as handle:
        found = re.search(r"\bpip='([0-9.]+)'", handle.read())
    assert found, "cannot tell which pip ansible-test bootstraps: read %s" % source
    return found.group(1)


def sanity_home():
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
                    os.path.join(cache, "get_pip_%s.py" % pip_version_wanted().replace(".", "_")))
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


@pytest.fixture(scope="session", params=PYTHONS, ids=[version for version, _path in PYTHONS])
def sanity(request, collection_tree):
    """One ansible-test sanity run of every test in SANITY_TESTS over the copy of the collection, per Python."""
    version, path = request.param
    command = [tool("ansible-test"), "sanity", "--local", "--python", version, "--color", "no"]
    for name in SANITY_TESTS:
        command += ["--test", name]
    home = sanity_home()
    # ansible-test finds python<version> on PATH: put this machine's first.
    search = os.pathsep.join([os.path.dirname(tool("ansible-test")), os.path.dirname(path), os.environ.get("PATH", "")])
    # Runs at once (pytest-xdist workers, two checkouts) would build the same cached venvs over each other.
    with open(os.path.join(home, "lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        completed = run(command, cwd=collection_tree, env={"HOME": home, "PATH": search}, timeout=900)
    return completed, split_by_test(completed.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", SANITY_TESTS)
def test_sanity_test_passes(sanity, name):
    completed, lines_of = sanity
    assert name in lines_of, "ansible-test did not run %s:\n%s" % (name, completed.stdout[-4000:])
    problems = [line for line in lines_of[name] if line.startswith(("ERROR", "FATAL", "Skipping"))]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_sanity_run_succeeds(sanity):
    completed, _lines_of = sanity
    assert completed.returncode == 0, completed.stdout[-6000:]


def test_no_sanity_ignores_without_a_reason():
    folder = os.path.join(os.path.dirname(HERE), "sanity")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            entries = [line for line in handle.read().splitlines() if line.strip() and not line.startswith("#")]
        assert all("#" in entry for entry in entries), "%s has ignores without a reason" % name
