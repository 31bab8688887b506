# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check one Generate environment in one task, in the worker process, as the playbooks do.

Each host task costs Ansible a worker process and the host's variables; here
the checks that are off cost nothing, and those that run call the code of
app_status, data_migrations and migration_run in this worker. The database
part runs as a data_migrations module process on the host when the
environment is reached over another connection, as data_migrations itself
does, and a host that cannot be reached is reported as such.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleConnectionFailure
from ansible.utils.display import Display

from ansible_collections.ceds.generate.plugins.module_utils import data_migrations, environment_check
from ansible_collections.ceds.generate.plugins.plugin_utils.action_module import ModuleActionBase
from ansible_collections.ceds.generate.plugins.plugin_utils.task_environment import (
    module_code_runs_here,
    remove_module_tmpdir,
)

display = Display()


class ActionModule(ModuleActionBase):
    """Run ceds.generate.environment_check: the checks of one environment, in this worker."""

    module_utils = environment_check

    def execute(self, params, environ, task_vars):
        host = (task_vars or {}).get("inventory_hostname", "")

        def say(text):
            display.display("%s: %s" % (host, text))

        def read_database(options):
            return self._database(options, environ, task_vars)
        check = environment_check.EnvironmentCheck(params, self._task.check_mode, environ, read_database, say,
                                                   self._connection.transport, self._connection_setting(task_vars))
        result = check.run()
        return result, check.secrets

    def _database(self, params, environ, task_vars):
        """data_migrations' result and secrets: in this worker where it would run here, else as its module process
        on the host; a host that cannot be reached is reported as such."""
        if module_code_runs_here(self, task_vars):
            return data_migrations.execute(params, self._task.check_mode, environ)
        # The module process hides its own secrets; these keep the ones given here out of this task's result too.
        secrets = set(value for value in (params.get("password"), params.get("connection_string")) if value)
        try:
            found = self._execute_module(module_name=data_migrations.MODULE_NAME, task_vars=task_vars,
                                         module_args=dict((name, value) for name, value in params.items()
                                                          if value is not None))
            remove_module_tmpdir(self)
        except AnsibleConnectionFailure as exc:
            return {"unreachable": True, "msg": "%s" % exc}, secrets
        return found, secrets

    @staticmethod
    def _connection_setting(task_vars):
        """The inventory setting that chose the environment's connection: ansible_connection, else ansible_host."""
        host = (task_vars or {}).get("inventory_hostname")
        variables = ((task_vars or {}).get("hostvars") or {}).get(host) or {}
        return "ansible_connection" if "ansible_connection" in variables else "ansible_host"
