"""Integration fixtures: every module run happens at -vvvv and is scanned for secrets.

The ``run_module`` fixture here replaces the one of tests/conftest.py for the
integration tests, so that every scenario, old and new, proves that no
password or connection string shows in any output, result, warning or
``executed_queries``, at the highest verbosity.
"""

from __future__ import annotations

import pytest

import ansible_run
import secret_scan

SCAN_VERBOSITY = 4


@pytest.fixture
def run_module(tmp_path, request):
    """Run the module through ansible-playbook at -vvvv (at least) and check the run for secrets."""
    def run(module_args, **kwargs):
        kwargs.setdefault("workdir", str(tmp_path))
        kwargs["verbosity"] = max(kwargs.get("verbosity") or 0, SCAN_VERBOSITY)
        result = ansible_run.run_module(module_args, **kwargs)
        secrets = secret_scan.secrets_of(module_args, kwargs.get("env"))
        return secret_scan.check(result, secrets, request.node.nodeid)
    return run


@pytest.fixture
def run_tasks(tmp_path, request):
    """Run several module tasks in one ansible-playbook at -vvvv and check the run for secrets.

    ``secrets`` names further secrets to look for, beyond those in the tasks' arguments.
    """
    def run(tasks, secrets=(), **kwargs):
        kwargs.setdefault("workdir", str(tmp_path))
        kwargs["verbosity"] = max(kwargs.get("verbosity") or 0, SCAN_VERBOSITY)
        result = ansible_run.run_tasks(tasks, **kwargs)
        return secret_scan.check(result, secret_scan.secrets_of_tasks(tasks, kwargs.get("env"), secrets),
                                 request.node.nodeid)
    return run
