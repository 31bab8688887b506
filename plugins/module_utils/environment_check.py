# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One environment's checks, as the playbooks run them (ceds.generate.environment_check).

Every check in the order they used to run as tasks: the inventory's inputs,
the rollout hold, the app probes, the cancel of hung runs, the database read or
reset, the re-run, and whether the web app agrees with the database. Each calls
the code of app_status, data_migrations or migration_run with the options that
are theirs; the checks that are off cost nothing. ``check_failures`` says, one
line each, which of them failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import (
    app_client,
    data_migrations,
    migration_recovery,
    migration_run,
)

MODULE_NAME = "ceds.generate.environment_check"
INPUTS_CHECK = "Inventory: no connection variable left empty"
HOLD_CHECK = "Rollout: stop before prod when an earlier environment failed"
CANCEL_CHECK = "Hung runs: cancel them through Generate's background app"
# The migration_run options a re-run or a cancel takes from rerun or cancel_hung; the connection and Hangfire
# options come from the environment's own.
RERUN_OPTIONS = ("types", "reports", "start_timeout", "poll", "timeout", "http_timeout")
CANCEL_OPTIONS = ("poll", "timeout")


def argument_spec():
    """data_migrations' options, the apps' URLs, and the checks that are on only when asked for."""
    spec = data_migrations.argument_spec()
    recovery = migration_run.argument_spec()
    probe = app_client.argument_spec()
    spec.update(
        web_url=probe["web_url"],
        background_url=probe["background_url"],
        validate_certs=probe["validate_certs"],
        empty_variables=dict(type="list", elements="str", default=[]),
        held_back_by=dict(type="list", elements="str", default=[]),
        cancel_hung=dict(type="dict", options=dict((name, recovery[name]) for name in CANCEL_OPTIONS)),
        rerun=dict(type="dict", options=dict(
            (name, dict(recovery[name], required=False)) for name in RERUN_OPTIONS)),
    )
    return spec


def argument_rules():
    """The module's mutually_exclusive, required_together, ... rules, as keyword arguments."""
    return data_migrations.argument_rules()


def _probe(params):
    """app_status' result for ``params``: what it found, failed with its message at the first app that fails."""
    try:
        return dict(app_client.probe(params), changed=False)
    except app_client.RequestFailed as exc:
        return dict(exc.result, failed=True, changed=False, msg="%s" % exc)


def _report_status(facts):
    """The report step's status in ``facts`` (the generate_migrations fact), or None."""
    for step in facts.get("steps") or []:
        if step.get("type_code") == "report":
            return step.get("status_code")
    return None


def _refused(checks, check, message, **more):
    """The result of a check that stops the environment before the rest is looked at."""
    failure = "%s: %s" % (check, message)
    return dict(checks, failed=True, failures=[failure], msg=failure, **more)


class EnvironmentCheck:
    """The checks of one environment, run in order by ``run()``.

    params: the validated options.  read_database: a function of data_migrations' options that returns
    (result, secrets), in this process or as a module process on the host.  say: prints one progress line of a
    re-run or a cancel.  connection, connection_setting: how the environment is reached, and which inventory
    setting chose that, for the advice when it cannot be reached.
    """

    def __init__(self, params, check_mode, environ, read_database, say, connection="local",
                 connection_setting="ansible_host"):
        self.params = params
        self.check_mode = check_mode
        self.environ = environ
        self.read_database = read_database
        self.say = say
        self.connection = connection
        self.connection_setting = connection_setting
        self.secrets = set()

    def _recovery(self, options, **given):
        """migration_run's result for ``options`` and ``given``, with the environment's connection and Hangfire
        options."""
        run = dict((name, self.params[name] if name in self.params else spec.get("default"))
                   for name, spec in migration_run.argument_spec().items())
        run.update((name, value) for name, value in options.items() if value is not None)
        run.update(given, background_url=self.params["background_url"])
        if not run["background_url"]:
            return {"failed": True, "changed": False, "msg": "background_url is needed to ask Generate's background "
                    "app to %s: set it (generate_background_url)" % given["state"]}
        found, hidden = migration_run.execute(run, self.check_mode, self.environ, self.say)
        self.secrets.update(hidden)
        return found

    def run(self):
        """Every check of the environment, in order: the task's result, failed with one line per failed check."""
        params = self.params
        reset = params["state"] == "reset"
        checks = {"changed": False, "held_back": False}
        if params["empty_variables"]:
            names = params["empty_variables"]
            it, verb = ("it", "is") if len(names) == 1 else ("them", "are")
            return _refused(checks, INPUTS_CHECK, (
                "%s %s empty for this environment: set %s (an environment lookup gives an empty value when its "
                "variable is unset), or remove %s so that the module's environment fallbacks (an AWX credential) "
                "apply" % (", ".join(names), verb, it, it)))
        if params["held_back_by"]:
            return _refused(checks, HOLD_CHECK, "not run, since %s failed and generate_stop_before_prod is set"
                            % ", ".join(params["held_back_by"]), held_back=True)

        apps = dict(web_url=params["web_url"], background_url=params["background_url"],
                    validate_certs=params["validate_certs"])
        if apps["web_url"] or apps["background_url"]:
            checks["app_probes"] = _probe(apps)
            # app_status stops at a failed web app: the background app is then probed on its own.
            if (checks["app_probes"].get("failed") and apps["background_url"]
                    and "background" not in checks["app_probes"]):
                checks["background_probe"] = _probe(dict(apps, web_url=None))
        probes_failed = any(checks.get(name, {}).get("failed") for name in ("app_probes", "background_probe"))

        if reset and params["cancel_hung"] is not None:
            types = list(migration_recovery.MIGRATE_TYPES)
            checks["cancel_hung"] = self._recovery(params["cancel_hung"], state="cancel", types=types)
            if checks["cancel_hung"].get("failed"):
                return _refused(checks, CANCEL_CHECK, checks["cancel_hung"].get("msg"))

        # A failed app check holds the reset back: the database is then only read.
        reset_allowed = reset and not probes_failed
        database = dict((name, params[name]) for name in data_migrations.argument_spec())
        database["state"] = "reset" if reset_allowed else "status"
        if not reset_allowed:
            database.update(unlock_reports=False, audit_note=None)
        migration, hidden = self.read_database(database)
        self.secrets.update(hidden)
        checks["migration"] = migration
        checks["changed"] = bool(migration.get("changed"))
        read = not migration.get("failed") and not migration.get("unreachable")
        facts = (migration.get("ansible_facts") or {}).get("generate_migrations") or {}

        if reset and params["rerun"] is not None and read and migration.get("reset_steps"):
            options = dict(params["rerun"])
            options["types"] = options.get("types") or [step["type_code"] for step in migration["reset_steps"]]
            checks["rerun"] = self._recovery(options, state="rerun")
        rerun = checks.get("rerun") or {}
        # The migrations as the database holds them at the end: after a re-run, the re-run's.
        latest = rerun.get("migrations") or facts

        if apps["web_url"] and ((checks.get("app_probes") or {}).get("web") or {}).get("ok") and read and not (
                rerun.get("failed")):
            checks["web_status"] = _probe(dict(
                apps, background_url=None, report_status=True, database_report_status=_report_status(latest),
                after_reset=reset and bool(migration.get("changed")) and not self.check_mode))

        failures = check_failures(dict(checks, generate_migrations=latest, connection=self.connection,
                                       connection_setting=self.connection_setting),
                                  reset=reset, check_mode=self.check_mode)
        result = dict(checks, failures=failures, msg="; ".join(failures) if failures else migration.get("msg"),
                      warnings=list(migration.get("warnings") or []) + list(rerun.get("warnings") or []))
        for name in ("ansible_facts", "diff"):
            if migration.get(name):
                result[name] = migration[name]
        if failures:
            result["failed"] = True
        return result


def registered(variables, name):
    """A registered result, or {} when the task did not run (skipped, or never reached)."""
    result = variables.get(name)
    if not result or result.get("skipped"):
        return {}
    return result


def one_line(text):
    return " ".join(("%s" % text).split())


def _message(result):
    """A failed result's message, without the "Task failed: " that ansible-core 2.19 puts before it."""
    message = one_line(result.get("msg") or "failed")
    return message[len("Task failed: "):] if message.startswith("Task failed: ") else message


def _task_failure(results, name, check):
    """``["<check>: <message>"]`` when the task registered as ``name`` failed, else []."""
    result = registered(results, name)
    return ["%s: %s" % (check, _message(result))] if result.get("failed") else []


def unreachable_advice(connection, setting):
    """What decides that an environment is reached over ``connection``, and what to set instead."""
    if setting == "ansible_connection":
        return ("the inventory sets ansible_connection: %s for this environment: set it to local, or remove it, to "
                "check it from the controller" % connection)
    return ("the inventory sets ansible_host for this environment, so Ansible connects to it over %s: remove "
            "ansible_host, or set ansible_connection: local, to check it from the controller" % connection)


def check_failures(results, reset=False, check_mode=False):
    """Every failed check of one environment, one line each ("<check>: <what it found>"), in the order they ran.

    results: what the environment's tasks registered (app_probes, background_probe, migration, web_status,
    rerun), the connection it was reached over and the inventory setting that chose it (connection,
    connection_setting), and generate_migrations, the migrations as the database holds them at the end.
    """
    failures = (_task_failure(results, "app_probes", "Web and background apps: answer the read-only probes")
                + _task_failure(results, "background_probe", "Background app: answer the read-only probe"))
    probes_failed = bool(failures)
    migration = registered(results, "migration")
    database = "Database: %s" % ("reset failed steps" if reset else "read the migration status")
    facts = results.get("generate_migrations") or {}
    if migration.get("unreachable"):
        failures.append("%s: unreachable over %s: %s; %s" % (
            database, results.get("connection"), _message(migration),
            unreachable_advice(results.get("connection"), results.get("connection_setting"))))
    elif migration.get("failed"):
        failures.append("%s: %s" % (database, _message(migration)))
    elif migration and facts.get("state") == "failed" and not migration.get("changed"):
        # Failed steps this run did not (or, in check mode, would not) reset: a deferred or held back reset, or
        # any failed step when only reporting.
        errors = facts.get("last_errors") or []
        last = ("; last error: %s" % one_line(errors[0].get("message"))) if errors else ""
        if reset and probes_failed:
            failures.append("Database: reset held back by the failed web and background apps check: %s%s"
                            % (_message(migration), last))
        else:
            failures.append("Database: leave no failed or stuck step behind: %s%s" % (_message(migration), last))
    rerun_failures = _task_failure(results, "rerun", "Re-run: Generate's own migration of the reset steps")
    failures += rerun_failures + _task_failure(
        results, "web_status", "Web app: agree with the database, and show success after a reset")
    # The report pages' own rule, on what the database holds after the run (the facts are the newest: a re-run's
    # when one ran); a dry run that would reset is judged by the run that resets.
    if (migration and not migration.get("failed") and not migration.get("unreachable") and not rerun_failures
            and facts.get("reports_blocked") and not (check_mode and migration.get("changed"))):
        failures.append("Report pages: open after the run: the report pages are blocked: %s"
                        % facts.get("reports_blocked_reason"))
    return failures
