# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-run or cancel Generate migrations from the worker process that runs the task.

The task asks the background app over HTTP and watches the database, both from
the controller (or execution environment), as the probes and the local
data_migrations task do; each poll's progress line is printed as it happens, so
a person (or AWX's job output) follows a run that may take hours.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.ceds.generate.plugins.module_utils import connection_options, migration_rerun
from ansible_collections.ceds.generate.plugins.plugin_utils.task_environment import (
    as_module_returns,
    module_environment,
    process_environment,
    validate_options,
)

display = Display()


class ActionModule(ActionBase):
    """Run ceds.generate.migration_run on the controller, without a module process."""

    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        """Validate the options, re-run or cancel, and return the result (failed with one line on any error)."""
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        host = task_vars.get("inventory_hostname", "") if task_vars else ""

        def say(text):
            display.display("%s: %s" % (host, text))
        environ = module_environment(self)
        with process_environment(environ):
            params, hidden, error = validate_options(migration_rerun.MODULE_NAME, self._task.args,
                                                     migration_rerun.argument_spec(),
                                                     connection_options.argument_rules())
            if error is not None:
                result.update(as_module_returns(dict(failed=True, msg=error), params, hidden, task_vars))
                return result
            found, secrets = migration_rerun.execute(params, self._task.check_mode, environ, say)
        # A module process returns warnings only when there are some (AnsibleModule.exit_json).
        if not found.get("warnings"):
            found.pop("warnings", None)
        result.update(as_module_returns(found, params, hidden | set(secrets), task_vars))
        return result
