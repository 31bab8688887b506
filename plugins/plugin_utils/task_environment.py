# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment a module process would see, for the action plugins that run module code in the worker."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def module_environment(action):
    """The controller's environment with the task's ``environment:`` on top, as a module process would see it."""
    environ = dict(os.environ)
    task_environment = {}
    action._compute_environment_string(task_environment)  # pylint: disable=protected-access
    environ.update((name, "%s" % value) for name, value in task_environment.items())
    return environ
