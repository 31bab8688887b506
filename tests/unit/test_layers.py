"""The imports of plugins/ flow one way: module and action -> the run -> the plan, the statements, the connection."""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "ansible_collections.ceds.generate.plugins."
# Each file's layer: a file may import only files of a lower layer.
LAYERS = {
    "module_utils/migration_plan": 0,
    "module_utils/connection_string": 0,
    "module_utils/app_probe": 0,
    "module_utils/statements": 1,
    "module_utils/migration_recovery": 1,
    "module_utils/migration_report": 1,
    "module_utils/connection_options": 2,
    "module_utils/connection": 3,
    "module_utils/migration_options": 3,
    "module_utils/migration_tables": 4,
    "module_utils/data_migrations_run": 5,
    "module_utils/migration_rerun": 5,
    "plugin_utils/task_environment": 6,
}
TOP = 7  # modules, action plugins, filters, doc fragments


def plugin_files():
    """Every Python file of plugins/, as its path below plugins/ without .py."""
    found = []
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if name.endswith(".py") and name != "__init__.py":
                path = os.path.relpath(os.path.join(folder, name), os.path.join(ROOT, "plugins"))
                found.append(path[:-3])
    return sorted(found)


def layer_of(name):
    """The layer of a file below plugins/; modules, actions and filters are on top."""
    return LAYERS.get(name, TOP if name.split("/")[0] in ("modules", "action", "filter", "doc_fragments") else None)


def collection_imports(name):
    """The files below plugins/ that a file imports."""
    with open(os.path.join(ROOT, "plugins", name + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            base = node.module[len(PACKAGE):].replace(".", "/")
            if base in ("module_utils", "plugin_utils"):
                imported.update("%s/%s" % (base, alias.name) for alias in node.names)
            else:
                imported.add(base)
    return imported


def test_every_file_of_plugins_has_a_layer():
    assert [name for name in plugin_files() if layer_of(name) is None] == []


@pytest.mark.parametrize("name", plugin_files())
def test_a_file_imports_only_files_below_it(name):
    upward = sorted(other for other in collection_imports(name) if layer_of(other) >= layer_of(name))
    assert upward == [], "%s (layer %d) imports %s" % (name, layer_of(name), upward)
