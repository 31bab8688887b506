"""The controller Pythons the collection supports, as this machine has them.

The collection claims Python 3.11 to 3.13 on the controller; the test command runs the module and playbook
integration tests, and ansible-test sanity, on the lowest and the highest of them that the machine has.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

SUPPORTED = ("3.11", "3.12", "3.13")


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


def lowest_and_highest():
    """(version, path) of the lowest and the highest supported Python here, once each."""
    found = [(version, python_of(version)) for version in SUPPORTED]
    found = [(version, path) for version, path in found if path]
    if not found:
        return []
    return [found[0]] if len(found) == 1 else [found[0], found[-1]]
