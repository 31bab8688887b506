# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the collection's action plugins: a module's code, run in Ansible's worker as its module would run.

Each action plugin names its module, its options and the function that does the
job. The base validates the options as AnsibleModule does (one-line errors, the
same messages), runs the job with the task's environment as the process
environment, and returns what a module process returns on this ansible-core:
``invocation`` where it adds it, secrets hidden as it hides them, ``diff`` only
in diff mode, ``warnings`` only when there are some.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.ceds.generate.plugins.plugin_utils.task_environment import (
    as_module_returns,
    module_environment,
    process_environment,
    validate_options,
)


class ModuleActionBase(ActionBase):
    """Run a module's code in the worker; subclasses set ``module_utils`` and define ``execute``."""

    _supports_check_mode = True
    # The module_utils file that serves the module: its MODULE_NAME (the name its errors give, as in
    # "Unsupported parameters for (<name>) module"), argument_spec() and argument_rules(), which the module
    # itself passes to AnsibleModule.
    module_utils = None

    def execute(self, params, environ, task_vars):
        """Do the module's job with validated options; return (result, secrets to hide)."""
        raise NotImplementedError

    def runs_here(self, task_vars):
        """Whether the module's code runs in this process (else ``run_module_process`` runs the module)."""
        return True

    def run_module_process(self, result, task_vars):
        """``result`` updated with the module's result from a module process on the host."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        """Validate the options, do the job, and return the result a module process would return."""
        result = super(ModuleActionBase, self).run(tmp, task_vars)
        del tmp
        if self.runs_here(task_vars):
            return self.run_in_worker(result, task_vars)
        return self.run_module_process(result, task_vars)

    def run_in_worker(self, result, task_vars):
        """``result`` updated with the module's result, its code run in this process."""
        environ = module_environment(self)
        with process_environment(environ):
            params, hidden, error, notices = validate_options(
                self.module_utils.MODULE_NAME, self._task.args, self.module_utils.argument_spec(),
                self.module_utils.argument_rules())
            if error is not None:
                found, secrets = dict(failed=True, msg=error), ()
            else:
                found, secrets = self.execute(params, environ, task_vars)
        # What the validation noted comes first, as in a module process (AnsibleModule warns as it validates).
        found["warnings"] = notices["warnings"] + list(found.get("warnings") or [])
        if notices["deprecations"]:
            found["deprecations"] = notices["deprecations"]
        if not self._task.diff:
            found.pop("diff", None)
        # A module process returns warnings only when there are some (AnsibleModule.exit_json).
        if not found.get("warnings"):
            found.pop("warnings", None)
        result.update(as_module_returns(found, params, set(hidden) | set(secrets), task_vars))
        return result
