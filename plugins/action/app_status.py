# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe the Generate apps from the worker process that runs the task.

Each probe is a few HTTP GETs; transferring and starting a module process for
them would cost far more than the requests themselves, so the action plugin
runs the probes itself. The module of the same name documents the options and
runs the same code when it is used as a plain module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import app_client
from ansible_collections.ceds.generate.plugins.plugin_utils.action_module import ModuleActionBase

# Ansible loads this plugin in the controller process before it forks the workers that run
# the task, so a context built here is shared by every probe of the run (see tls_context).
app_client.tls_context(validate_certs=True)


class ActionModule(ModuleActionBase):
    """Run ceds.generate.app_status on the controller, without a module process."""

    # The probes are HTTP requests from here: no connection to the host is used.
    _requires_connection = False
    module_utils = app_client

    def execute(self, params, environ, task_vars):
        """Probe the apps; failed with one line at the first app that fails (read-only GETs, also in check mode)."""
        try:
            return dict(app_client.probe(params), changed=False), ()
        except app_client.RequestFailed as exc:
            return dict(exc.result, failed=True, changed=False, msg="%s" % exc), ()
