"""ansible-doc renders every plugin of the collection, with no warning: the documentation is the user's manual."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import ansible_run
from release_run import ROOT, run, tool

# Folders of plugins/ that hold no plugin of their own.
NOT_PLUGINS = ("module_utils", "doc_fragments", "plugin_utils", "action")


def plugins():
    """(ansible-doc type, name) of every plugin file in plugins/."""
    found = []
    folder = os.path.join(ROOT, "plugins")
    for kind in sorted(os.listdir(folder)):
        if kind in NOT_PLUGINS or not os.path.isdir(os.path.join(folder, kind)):
            continue
        for name in sorted(os.listdir(os.path.join(folder, kind))):
            stem, extension = os.path.splitext(name)
            if extension in (".py", ".ps1") and stem != "__init__":
                found.append(("module" if kind == "modules" else kind, stem))
    return found


def ansible_doc(*args):
    return run([tool("ansible-doc")] + list(args), env={"ANSIBLE_COLLECTIONS_PATH": ansible_run.collections_path()})


def test_the_collection_has_plugins():
    assert ("module", "data_migrations") in plugins()


@pytest.mark.parametrize("kind,name", plugins())
def test_plugin_documentation_renders_without_warnings(kind, name):
    completed = ansible_doc("-t", kind, "ceds.generate.%s" % name)
    assert completed.returncode == 0, completed.stdout
    assert "WARNING" not in completed.stdout and "ERROR" not in completed.stdout, completed.stdout
    assert "ceds.generate.%s" % name in completed.stdout


@pytest.mark.parametrize("kind,name", plugins())
def test_plugin_documentation_has_examples_and_return_values(kind, name):
    completed = ansible_doc("--json", "-t", kind, "ceds.generate.%s" % name)
    assert completed.returncode == 0, completed.stdout
    documented = json.loads(completed.stdout)["ceds.generate.%s" % name]
    assert documented["doc"]["short_description"] and documented["doc"]["author"]
    assert documented["examples"].strip()
    if kind == "module":
        assert documented["return"]


def test_module_list_names_every_module_without_warnings():
    completed = ansible_doc("-t", "module", "--list", "ceds.generate")
    assert completed.returncode == 0 and "WARNING" not in completed.stdout, completed.stdout
    listed = set(line.split()[0] for line in completed.stdout.splitlines() if line.strip())
    assert listed == set("ceds.generate.%s" % name for kind, name in plugins() if kind == "module")
