"""Least privilege: the PostgreSQL grants of docs/least-privilege.md, run as written, are enough and no more.

The blocks are read from the document itself, so the document and the proof
cannot drift apart.  All cases run as tasks of one playbook, on databases
that only these roles' grants reach.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.support import ansible_run
from tests.support import figures
from tests.support import generate_db
from tests.support import secret_scan
from tests.support.scenarios import FAILED, FAILED_HISTORY

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "docs", "least-privilege.md")
HISTORY = [message for _type, _age, message in FAILED_HISTORY]
FIXED = {"ods": "success", "rds": "success", "report": "success"}
INSERT_GRANT = 'GRANT INSERT ON "App"."DataMigrationHistories" TO generate_reset;'
HANGFIRE_GRANTS = ('GRANT USAGE ON SCHEMA "HangFire" TO generate_monitor;\n'
                   'GRANT SELECT ON "HangFire"."Job", "HangFire"."State", "HangFire"."Server" TO generate_monitor;\n')


def documented_block(login):
    """The PostgreSQL block of docs/least-privilege.md for the ``status`` or ``reset`` login."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    found = re.search(r"```sql\n-- PostgreSQL: %s login\n(.*?)```" % login, text, re.S)
    assert found, "docs/least-privilege.md has no PostgreSQL block for the %s login" % login
    return found.group(1)


def grants(block, database, roles):
    """The block for one database, with the test's role names and passwords, with or without CREATE ROLE."""
    for documented, (role, password) in roles.items():
        block = block.replace("'change-me-1'" if documented == "generate_monitor" else "'change-me-2'",
                              "'%s'" % password.replace("'", "''"))
        block = block.replace(documented, role)
    return block.replace("DATABASE generate ", 'DATABASE "%s" ' % database)


def without_create_role(block):
    """The block without its CREATE ROLE lines, for the databases after the first (roles are cluster-wide)."""
    return "\n".join(line for line in block.splitlines() if not line.startswith("CREATE ROLE"))


@pytest.fixture(scope="module")
def least_privilege(postgres, tmp_path_factory, request):
    """Roles made from the document, three databases, and one playbook of every case; yields records and databases."""
    suffix = uuid.uuid4().hex[:8]
    roles = {
        "generate_monitor": ("monitor_%s" % suffix, "Monitor pw; {%s}" % suffix),
        "generate_reset": ("resetter_%s" % suffix, "Reset pw = '%s'" % suffix),
    }
    status_block, reset_block = documented_block("status"), documented_block("reset")
    assert INSERT_GRANT in reset_block
    databases = {}
    assert HANGFIRE_GRANTS in status_block
    for role_kind in ("status", "reset", "reset_without_insert", "status_without_hangfire"):
        database = generate_db.postgres_database(postgres, "privilege_%s_%s" % (role_kind, suffix))
        database.seed(FAILED, history=FAILED_HISTORY)
        # Only the documented grants reach these databases: take the default rights of PUBLIC away.
        postgres.psql('REVOKE ALL ON DATABASE "%s" FROM PUBLIC' % database.name, database=database.name)
        databases[role_kind] = database
    first = True
    for role_kind, database in databases.items():
        status_sql = grants(status_block if role_kind != "status_without_hangfire"
                            else status_block.replace(HANGFIRE_GRANTS, ""), database.name, roles)
        reset_sql = grants(reset_block if role_kind != "reset_without_insert"
                           else reset_block.replace(INSERT_GRANT, ""), database.name, roles)
        if not first:
            status_sql, reset_sql = without_create_role(status_sql), without_create_role(reset_sql)
        postgres.psql(status_sql, database=database.name)
        postgres.psql(reset_sql, database=database.name)
        first = False

    def as_login(database, documented_role, **extra):
        role, password = roles[documented_role]
        return database.module_args(username=role, password=password, **extra)

    before = dict((kind, database.snapshot()) for kind, database in databases.items())
    tasks = [
        ("status with SELECT only", as_login(databases["status"], "generate_monitor")),
        ("reset with SELECT only", as_login(databases["status"], "generate_monitor", state="reset")),
        ("status without the Hangfire grants", as_login(databases["status_without_hangfire"], "generate_monitor")),
        ("reset with the documented grants", as_login(databases["reset"], "generate_reset", state="reset")),
        ("reset without INSERT, audited", as_login(databases["reset_without_insert"], "generate_reset",
                                                   state="reset")),
        ("reset without INSERT, audit false", as_login(databases["reset_without_insert"], "generate_reset",
                                                       state="reset", audit=False)),
    ]
    run = ansible_run.run_tasks(tasks, verbosity=4, env={"ANSIBLE_PIPELINING": "1"},
                                workdir=str(tmp_path_factory.mktemp("privilege")))
    figures.record("least-privilege tasks run on PostgreSQL", len(run.by_task()), request.node.nodeid)
    secret_scan.check(run, secret_scan.secrets_of_tasks(tasks), request.node.nodeid)
    yield run, databases, before
    for database in databases.values():
        postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database.name)
    for role, _password in roles.values():
        postgres.psql("DROP ROLE IF EXISTS %s" % role)


def as_documented(request, checks):
    """Record one task as doing what docs/least-privilege.md says when every ``(what, observed, expected)``
    agrees; then fail the test naming each that does not."""
    wrong = ["%s: %r, expected %r" % (what, observed, expected) for what, observed, expected in checks
             if observed != expected]
    figures.record("least-privilege tasks whose outcome was the one docs/least-privilege.md gives", int(not wrong),
                   request.node.nodeid)
    assert not wrong, "; ".join(wrong)


def facts_of(record):
    """The fact ``generate_migrations`` of a task's result, empty when the task returned none."""
    return record["result"].get("ansible_facts", {}).get("generate_migrations", {})


def test_status_login_with_select_only_reports_everything(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["status with SELECT only"]
    facts = facts_of(record)
    as_documented(request, [
        ("status", record["status"], "ok"),
        ("state", facts.get("state"), "failed"),
        ("failed steps", facts.get("failed_steps"), ["ods", "rds", "report"]),
        ("evidence", facts.get("evidence"), "hangfire"),
        ("locked reports", facts.get("locked_reports"), []),
        ("warnings", record["result"].get("warnings") or [], []),
        ("database version", facts.get("database_version"), "13.1"),
        # History since the last trigger, newest first.
        ("last errors", [line["message"] for line in facts.get("last_errors", [])], HISTORY[::-1]),
    ])


def test_reset_by_the_status_login_is_refused_and_changes_nothing(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["reset with SELECT only"]
    message = record["result"].get("msg", "")
    as_documented(request, [
        ("status", record["status"], "failed"),
        ("message starts", message.startswith("resetting migration steps on 127.0.0.1/%s was refused: "
                                              % databases["status"].name), True),
        ("message names the table", "permission denied for table DataMigrations" in message, True),
        ("message names the page", "Grant the login the rights in docs/least-privilege.md" in message, True),
        ("message is one line", "\n" in message, False),
        ("table unchanged", databases["status"].snapshot() == before["status"], True),
    ])


def test_reset_login_with_exactly_the_documented_grants_resets_and_audits(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["reset with the documented grants"]
    database = databases["reset"]
    as_documented(request, [
        ("status", record["status"], "ok"),
        ("changed", record["result"].get("changed"), True),
        ("statuses", database.statuses(), FIXED),
        ("history lines", len(database.history_messages()), len(HISTORY) + 3),
    ])


def test_reset_login_without_insert_fails_when_auditing_and_rolls_the_updates_back(least_privilege, request):
    run, databases, before = least_privilege
    database = databases["reset_without_insert"]
    audited = run.by_task()["reset without INSERT, audited"]
    message = audited["result"].get("msg", "")
    # The next task found all three steps still to reset: the audited run's updates were rolled back.
    unaudited = run.by_task()["reset without INSERT, audit false"]
    as_documented(request, [
        ("audited: status", audited["status"], "failed"),
        ("audited: message starts", message.startswith("writing the audit history on 127.0.0.1/%s was refused: "
                                                       % database.name), True),
        ("audited: message names the table", "permission denied for table DataMigrationHistories" in message, True),
    ])
    as_documented(request, [
        ("audit false: status", unaudited["status"], "ok"),
        ("audit false: steps reset from", [step["from"] for step in unaudited["result"].get("reset_steps", [])],
         ["error", "pending", "pending"]),
        ("history", database.history_messages(), HISTORY),
        ("statuses", database.statuses(), FIXED),
    ])


def test_status_login_without_the_hangfire_grants_gets_the_age_rule_and_a_warning_naming_them(
        least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["status without the Hangfire grants"]
    facts = facts_of(record)
    warnings = record["result"].get("warnings") or []
    warning = warnings[0] if len(warnings) == 1 else ""
    as_documented(request, [
        ("status", record["status"], "ok"),
        ("evidence", facts.get("evidence"), "age"),
        ("Hangfire available", facts.get("hangfire", {}).get("available"), False),
        ("Hangfire reason", facts.get("hangfire", {}).get("reason"),
         "SELECT on HangFire.Job, HangFire.State, HangFire.Server is not granted to this login"),
        # The age rule: rds and report are pending for two hours, within Generate 13.1's 30000 s.
        ("failed steps", facts.get("failed_steps"), ["ods"]),
        ("queued steps", facts.get("queued_steps"), ["rds", "report"]),
        ("warnings", len(warnings), 1),
        ("warning starts", warning.startswith("Hangfire's tables cannot be read ("), True),
        ("warning quotes the driver", "permission denied for schema HangFire" in warning, True),
        ("warning names the grant", warning.endswith("grant SELECT on HangFire.Job, HangFire.State, HangFire.Server "
                                                     "to this login (docs/least-privilege.md)"), True),
    ])
