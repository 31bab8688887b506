# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ceds.generate.data_migrations in the worker process when the host is the controller itself.

Each Generate environment is an inventory host with a local connection, so
the module would run on the controller anyway. Starting a module process for
one query costs several times the query itself, so on a local connection the
action plugin runs the module's code here, with the same options, environment
fallbacks and result, and with the task's environment as the process
environment that unixODBC and the driver read. With become, async, another
connection, a host interpreter that is not this Python, or no pyodbc on the
controller's Python, it runs the module on the host as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.utils.vars import merge_hash

from ansible_collections.ceds.generate.plugins.module_utils import data_migrations
from ansible_collections.ceds.generate.plugins.plugin_utils.action_module import ModuleActionBase
from ansible_collections.ceds.generate.plugins.plugin_utils.task_environment import (
    module_code_runs_here,
    remove_module_tmpdir,
)


class ActionModule(ModuleActionBase):
    """Run ceds.generate.data_migrations, in this process on a local connection."""

    _supports_async = True
    module_utils = data_migrations

    def execute(self, params, environ, task_vars):
        return data_migrations.execute(params, self._task.check_mode, environ)

    def run_module_process(self, result, task_vars):
        """The module on the host, as ansible-core's own normal action runs it (async included)."""
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(module_name=data_migrations.MODULE_NAME,
                                                         task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            remove_module_tmpdir(self)
        return result

    def runs_here(self, task_vars):
        """Whether the module would run in this process's place: a local connection, as this user, now, with
        this Python."""
        return module_code_runs_here(self, task_vars)
