"""The imports of plugins/ flow one way: module and action -> the run -> the plan, the statements, the connection.

The pure files (the decisions and the SQL text) import neither pyodbc nor ansible-core, so that they are the same
wherever they run; modules import no plugin_utils, which only the controller has.
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "ansible_collections.ceds.generate.plugins."
# Each file's layer: a file may import only files of a lower layer.
LAYERS = {
    "module_utils/hangfire_state": 0,
    "module_utils/migration_plan": 1,
    "module_utils/connection_string": 0,
    "module_utils/app_client": 0,
    "module_utils/statements": 1,
    "module_utils/migration_recovery": 2,
    "module_utils/migration_report": 2,
    "module_utils/migration_rows": 2,
    "module_utils/connection_options": 2,
    "module_utils/connection": 3,
    "module_utils/migration_options": 3,
    "module_utils/migration_tables": 4,
    "module_utils/data_migrations": 5,
    "module_utils/migration_run": 6,
    "module_utils/environment_check": 7,
    "plugin_utils/task_environment": 8,
    "plugin_utils/action_module": 9,
}
TOP = 10  # modules, action plugins, filters, doc fragments
# The files of pure decisions and SQL text: only the standard library and each other.
PURE = ("module_utils/hangfire_state", "module_utils/migration_plan", "module_utils/migration_recovery",
        "module_utils/migration_report", "module_utils/migration_rows", "module_utils/statements")


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


def imported_modules(name):
    """Every module a file imports, by its dotted name (``from a import b`` gives ``a.b`` and ``a``)."""
    with open(os.path.join(ROOT, "plugins", name + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update("%s.%s" % (node.module, alias.name) for alias in node.names)
    return found


def collection_imports(name):
    """The files below plugins/ that a file imports, by ``import`` or ``from ... import``."""
    imported = set()
    for module in imported_modules(name):
        if module.startswith(PACKAGE):
            path = module[len(PACKAGE):].replace(".", "/")
            if os.path.exists(os.path.join(ROOT, "plugins", path + ".py")):
                imported.add(path)
    return imported


def test_every_file_of_plugins_has_a_layer():
    assert [name for name in plugin_files() if layer_of(name) is None] == []


@pytest.mark.parametrize("name", plugin_files())
def test_a_file_imports_only_files_below_it(name):
    upward = sorted(other for other in collection_imports(name) if layer_of(other) >= layer_of(name))
    assert upward == [], "%s (layer %d) imports %s" % (name, layer_of(name), upward)


@pytest.mark.parametrize("name", PURE)
def test_a_pure_file_imports_neither_pyodbc_nor_ansible_core(name):
    outside = sorted(module for module in imported_modules(name)
                     if module.split(".")[0] in ("pyodbc", "ansible") and not module.startswith(PACKAGE))
    assert outside == [], "%s imports %s" % (name, outside)


@pytest.mark.parametrize("name", [name for name in plugin_files() if name.startswith("modules/")])
def test_a_module_imports_no_plugin_utils(name):
    assert sorted(other for other in collection_imports(name) if other.startswith("plugin_utils/")) == []


def test_a_plain_import_counts_as_an_import(tmp_path, monkeypatch):
    folder = tmp_path / "plugins" / "module_utils"
    folder.mkdir(parents=True)
    (folder / "statements.py").write_text("", encoding="utf-8")
    (folder / "plan.py").write_text("import ansible_collections.ceds.generate.plugins.module_utils.statements as s\n"
                                    "import pyodbc\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    assert collection_imports("module_utils/plan") == {"module_utils/statements"}
    assert "pyodbc" in imported_modules("module_utils/plan")
