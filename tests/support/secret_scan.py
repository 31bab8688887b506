"""Look for passwords and connection strings in everything an ansible-playbook run showed or returned."""

from __future__ import annotations

import json
import re

from . import figures
from .postgres_cluster import SUPERUSER_PASSWORD

SECRET_ENV = ("GENERATE_DB_PASSWORD", "GENERATE_DB_CONNECTION_STRING")
# At -vvvv ansible-playbook prints its parsed arguments, the verbosity among them.
VERBOSITY_LINE = re.compile(r"^verbosity: (\d+)$", re.MULTILINE)


def _forms(secret):
    """A secret as given and as it looks brace-quoted in a connection string."""
    return {secret, "{" + secret.replace("}", "}}") + "}"}


def secrets_of(module_args=None, env=None, extra=()):
    """The secrets a run knows: password and connection string (options and environment), the cluster's."""
    found = {SUPERUSER_PASSWORD}
    for source, names in ((module_args or {}, ("password", "connection_string")), (env or {}, SECRET_ENV)):
        for name in names:
            value = source.get(name)
            if isinstance(value, str) and len(value) >= 4:
                found.add(value)
    found.update(secret for secret in extra if secret)
    return sorted(found)


def secrets_of_tasks(tasks, env=None, extra=()):
    """The secrets of every task of an ``ansible_run.run_tasks`` call, and of the run's environment."""
    found = set(secrets_of({}, env, extra))
    for task in tasks:
        found.update(secrets_of(task[1], (task[2] if len(task) > 2 else {}).get("environment")))
    return sorted(found)


def haystack(run):
    """Every text of a run: what ansible-playbook printed and every task result, warnings and queries included."""
    return run.output + "\n" + json.dumps(run.records, ensure_ascii=False)


def hits(run, secrets):
    """How many times any form of any secret shows up in the run; 0 is the only good answer."""
    text = haystack(run)
    return sum(text.count(form) for secret in secrets for form in _forms(secret))


def leaked(run, secrets):
    """Which secrets leaked, named by position only, so an assertion message never repeats a secret."""
    text = haystack(run)
    return ["secret #%d (%d characters)" % (number, len(secret))
            for number, secret in enumerate(secrets, start=1)
            if any(form in text for form in _forms(secret))]


def verbosity(run):
    """The verbosity the run's own output says it ran at (0 when it does not say, as below -vvvv)."""
    found = VERBOSITY_LINE.search(run.output)
    return int(found.group(1)) if found else 0


def check(run, secrets, test=None):
    """Fail when any secret shows up in ``run``; count the scan, the task results scanned and the hits."""
    found = hits(run, secrets)
    if verbosity(run) >= 4:
        figures.record("ansible-playbook runs scanned for secrets at -vvvv", 1, test)
        figures.record("task results in those runs", len(run.records), test)
    figures.record("secret-scan hits", found, test)
    assert found == 0, "secrets shown by the run: %s" % ", ".join(leaked(run, secrets))
    return run
