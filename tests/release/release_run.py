"""How the release checks run the ecosystem's tools: the virtualenv's commands, one output stream, the files of a clean clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def tool(name):
    """The path of a command-line tool installed with requirements-dev.txt, next to this Python."""
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        path = shutil.which(name)
    assert path, "%s is not installed: run ./dev setup (requirements-dev.txt lists it)" % name
    return path


def run(command, cwd=ROOT, env=None, timeout=600):
    """Run a command with stdout and stderr in one stream, in order; return the CompletedProcess."""
    environment = dict(os.environ)
    environment.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", "PY_COLORS": "0"})
    environment["PATH"] = BIN + os.pathsep + environment.get("PATH", "")
    environment.update(env or {})
    return subprocess.run(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def collection_files():
    """The files of the collection as a clean clone would have them: tracked or new, never ignored ones."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return sorted(path for path in listed.split("\0") if path and os.path.isfile(os.path.join(ROOT, path)))
