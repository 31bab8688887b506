"""ansible-lint with the production profile over the whole repository (settings in .ansible-lint)."""

from __future__ import annotations

from tests.support import ansible_run
from release_run import run, tool


def test_repository_passes_ansible_lint_production_profile():
    # The collection must be found under its name for module_defaults groups and FQCNs in the playbooks.
    completed = run([tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
                    env={"ANSIBLE_COLLECTIONS_PATH": ansible_run.collections_path()})
    assert completed.returncode == 0, completed.stdout[-6000:]
    assert "Passed: 0 failure(s), 0 warning(s)" in completed.stdout, completed.stdout[-6000:]
