"""The controllers the collection supports: each ansible-core release on a controller Python it runs on.

The main run of the tests is the virtualenv of ./dev (the system's Python 3.11, with ansible-core 2.19, the
newest that runs on 3.11). tests/release/test_controller_matrix.py runs the tests of what can differ between
releases again on each controller of CONTROLLERS, in a virtualenv of its own, all of them side by side;
tests/release/test_sanity.py runs ansible-test sanity with the oldest and the newest of them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
# What the matrix's tests import besides ansible-core: the collection's own requirement, the test runner and its
# plugin, AWX's injector code, ansible-runner and the rrule parser of the AWX jobs.
TEST_PACKAGES = ("pyodbc>=4.0.39", "pytest>=8", "pytest-ansible>=25", "pyyaml", "ansible-runner>=2.4",
                 "awx-plugins.interfaces==0.0.1a5", "python-dateutil>=2.7")
# Set in a run of one controller of the matrix: what is the same on every release (the databases the tests use,
# Generate's version lines) is tested by the main run, and the matrix tests each release on one of each.
MATRIX_RUN = "GENERATE_TEST_MATRIX_RUN"


@dataclass(frozen=True)
class Controller:
    """One ansible-core release on one controller Python, as pip installs it."""

    core: str
    python: str
    requirement: str

    @property
    def name(self):
        return "core%s-python%s" % (self.core, self.python)


CONTROLLERS = (
    Controller("2.17", "3.11", "ansible-core>=2.17,<2.18"),
    Controller("2.18", "3.12", "ansible-core>=2.18,<2.19"),
    Controller("2.19", "3.13", "ansible-core>=2.19,<2.20"),
    Controller("2.20", "3.12", "ansible-core>=2.20,<2.21"),
    Controller("2.21", "3.13", "ansible-core>=2.21,<2.22"),
    # From its newest pre-release until it is final (a pre-release in the specifier lets pip take pre-releases).
    Controller("2.22", "3.13", "ansible-core>=2.22.0rc1,<2.23"),
)


def in_matrix_run():
    """Whether this test run is one controller's run of the matrix."""
    return os.environ.get(MATRIX_RUN) == "1"


def one_in_matrix_run(values):
    """``values``, or only the last of them in a matrix run (the newest of Generate's version lines, say)."""
    values = list(values)
    return values[-1:] if in_matrix_run() else values


def python_of(version):
    """The path of a working ``python<version>`` on this machine (system or pyenv), or None."""
    candidates = [shutil.which("python%s" % version), "/usr/bin/python%s" % version, "/usr/local/bin/python%s" % version]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s.*/bin/python%s" % (version, version))))
    for path in candidates:
        if not path or not os.path.exists(path):
            continue
        # A pyenv shim exists for every version pyenv knows, but runs only the selected ones.
        works = subprocess.run([path, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2], sys.executable)"],
                               capture_output=True, text=True, check=False)
        found = works.stdout.split()
        if works.returncode == 0 and len(found) == 2 and found[0] == version:
            return found[1]
    return None


def virtualenv(controller):
    """The folder of the controller's virtualenv, with its ansible-core and TEST_PACKAGES, made once and kept.

    None when its Python is not on this machine.
    """
    python = python_of(controller.python)
    if python is None:
        return None
    folder = os.path.join(ROOT, ".cache", "controllers", controller.name)
    stamp = os.path.join(folder, ".requirements")
    wanted = "\n".join((controller.requirement,) + TEST_PACKAGES)
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return folder
    subprocess.run([python, "-m", "venv", "--clear", folder], check=True)
    installed = subprocess.run([os.path.join(folder, "bin", "python"), "-m", "pip", "install", "-q",
                                controller.requirement] + list(TEST_PACKAGES), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    assert installed.returncode == 0, installed.stdout[-4000:]
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    return folder
