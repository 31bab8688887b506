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

from ansible.utils.display import Display

from ansible_collections.ceds.generate.plugins.module_utils import migration_run
from ansible_collections.ceds.generate.plugins.plugin_utils.action_module import ModuleActionBase

display = Display()


class ActionModule(ModuleActionBase):
    """Run ceds.generate.migration_run on the controller, without a module process."""

    _requires_connection = False
    module_utils = migration_run

    def execute(self, params, environ, task_vars):
        """Re-run or cancel, printing each poll's progress line under the host's name."""
        host = task_vars.get("inventory_hostname", "") if task_vars else ""

        def say(text):
            display.display("%s: %s" % (host, text))
        return migration_run.execute(params, self._task.check_mode, environ, say)
