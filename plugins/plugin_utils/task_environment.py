# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a module process would have had, for the action plugins that run module code in Ansible's worker.

Ansible forks one worker process per task and host; a module process would get the
controller's environment with the task's ``environment:`` on top, and unixODBC and
its drivers read that environment (ODBCSYSINI, ODBCINI, KRB5CCNAME, SSL_CERT_FILE)
when they connect. ``process_environment`` gives the worker exactly that for the
time of the task. Every use of ansible-core internals by these plugins is here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import sys

from collections.abc import Mapping

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.ceds.generate.plugins.module_utils.connection import pyodbc
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import hide_secrets


def module_environment(action):
    """The controller's environment with the task's ``environment:`` on top, as a module process would see it."""
    environ = dict(os.environ)
    task_environment = {}
    action._compute_environment_string(task_environment)  # pylint: disable=protected-access
    environ.update((name, "%s" % value) for name, value in task_environment.items())
    return environ


@contextlib.contextmanager
def process_environment(environ):
    """Run the block with ``environ`` as this process's environment, then put the old one back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def interpreter_is_this_python(action, task_vars):
    """Whether the host's Python is the one running this worker (unset: Ansible's own choice for a local host)."""
    interpreter = (task_vars or {}).get("ansible_python_interpreter")
    if interpreter is None:
        return True
    interpreter = action._templar.template(interpreter)  # pylint: disable=protected-access
    if not interpreter or interpreter in ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent"):
        return True
    return os.path.realpath(interpreter) == os.path.realpath(sys.executable)


def module_code_runs_here(action, task_vars):
    """Whether a module's code would run in this worker's place: a local connection, as this user, now, with this
    Python, which has pyodbc."""
    return (
        action._connection.transport == "local"  # pylint: disable=protected-access
        and not action._play_context.become  # pylint: disable=protected-access
        and not action._task.async_val  # pylint: disable=protected-access
        and pyodbc is not None
        and interpreter_is_this_python(action, task_vars)
    )


def remove_module_tmpdir(action):
    """Remove the remote temporary folder a module run left, as ansible-core's own normal action does."""
    action._remove_tmp_path(action._connection._shell.tmpdir)  # pylint: disable=protected-access


def no_log_values(validation):
    """The texts an ArgumentSpecValidator result marked no_log, to keep out of the result."""
    return set(validation._no_log_values)  # pylint: disable=protected-access


def plain(value):
    """The task's arguments as a module process receives them: plain dicts, lists, strings and numbers.

    A module process gets its arguments as JSON; in the worker they are still the
    YAML parser's and the templar's types (AnsibleUnicode, unsafe text, vaulted
    values), which show in Ansible's own validation messages.
    """
    if isinstance(value, Mapping):
        return dict(("%s" % key, plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return "%s" % value


def validate_options(module_name, task_args, argument_spec, rules):
    """Validate a task's options as AnsibleModule would.

    Returns (parameters, no_log texts, one-line error or None, notices): notices
    holds the ``warnings`` and ``deprecations`` a module process returns for
    them (an option set with its alias, a deprecated alias), empty lists when
    there are none. The parameters are returned even when they are refused, as
    AnsibleModule keeps them for the result's ``invocation``. Run it inside
    ``process_environment``, so that the spec's environment fallbacks read the
    task's environment, as in a module process.
    """
    validation = ArgumentSpecValidator(argument_spec, **rules).validate(plain(task_args))
    hidden = no_log_values(validation)
    # pylint: disable=protected-access
    notices = {
        "warnings": ["Both option %s and its alias %s are set." % (found["option"], found["alias"])
                     for found in validation._warnings],
        "deprecations": [dict((key, value) for key, value in found.items() if value is not None)
                         for found in validation._deprecations],
    }
    # pylint: enable=protected-access
    if not validation.error_messages:
        return validation.validated_parameters, hidden, None, notices
    message = validation.errors.msg
    if isinstance(validation.errors[0], UnsupportedError):
        message = "Unsupported parameters for (%s) module: %s" % (module_name, message)
    return validation.validated_parameters, hidden, hide_secrets(message, hidden), notices


def injects_invocation(task_vars):
    """Whether a module process adds ``invocation`` to its result: always before ansible-core 2.21, and from 2.21
    as its INJECT_INVOCATION setting says (default: no)."""
    if "INJECT_INVOCATION" not in C.config.get_configuration_definitions():
        return True
    return bool(C.config.get_config_value("INJECT_INVOCATION", variables=task_vars or {}))


def as_module_returns(result, params, secrets, task_vars):
    """``result`` as a module process with these validated options returns it on this ansible-core.

    That is, with ``invocation`` where the module process adds it, and with the
    secrets hidden as this release hides them: replaced in the result before
    2.22, registered with the secret masker (which masks them wherever they are
    shown) from 2.22.
    """
    if injects_invocation(task_vars):
        result = dict(result, invocation={"module_args": params})
    return hide_secrets(result, secrets)
