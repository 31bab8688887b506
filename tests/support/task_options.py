"""A task's options as a module sees them: validated by Ansible against the argument spec, in a given environment."""

from __future__ import annotations

from ansible_collections.ceds.generate.plugins.module_utils import connection_options, data_migrations
from ansible_collections.ceds.generate.plugins.plugin_utils.task_environment import (
    process_environment,
    validate_options,
)


class OptionsRefused(Exception):
    """Ansible's validation refused the options; the text is its one-line message."""


def validated(environ=None, argument_spec=None, **given):
    """The options after Ansible's validation (defaults, choices, the spec's fallbacks read from ``environ``)."""
    with process_environment(dict(environ or {})):
        params, _hidden, error, _notices = validate_options(
            data_migrations.MODULE_NAME, given, argument_spec or data_migrations.argument_spec(),
            connection_options.argument_rules())
    if error is not None:
        raise OptionsRefused(error)
    return params


def resolved(environ=None, **given):
    """The effective connection options: validated as a module's, then resolved in ``environ``."""
    return connection_options.resolve_connection(validated(environ, **given), dict(environ or {}))
