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

import ansible_run
import figures
import generate_db
import secret_scan

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "docs", "least-privilege.md")
TROUBLESHOOTING = [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)]
HISTORY = [("ods", 7000, "Error in App.Migrate_Data: deadlock victim")]
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
def least_privilege(postgres, tmp_path_factory):
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
        database.seed(TROUBLESHOOTING, history=HISTORY)
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
    secret_scan.check(run, secret_scan.secrets_of_tasks(tasks), "test_least_privilege.py")
    yield run, databases, before
    for database in databases.values():
        postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database.name)
    for role, _password in roles.values():
        postgres.psql("DROP ROLE IF EXISTS %s" % role)


def proven(request):
    figures.record("least-privilege cases proven on PostgreSQL", 1, request.node.nodeid)


def test_status_login_with_select_only_reports_everything(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["status with SELECT only"]
    assert record["status"] == "ok", record["result"]["msg"]
    facts = record["result"]["ansible_facts"]["generate_migrations"]
    assert facts["state"] == "failed" and facts["failed_steps"] == ["ods", "rds", "report"]
    assert facts["evidence"] == "hangfire" and facts["locked_reports"] == []
    assert not record["result"].get("warnings")
    assert facts["database_version"] == "13.1"
    assert [line["message"] for line in facts["last_errors"]] == ["Error in App.Migrate_Data: deadlock victim"]
    proven(request)


def test_reset_by_the_status_login_is_refused_and_changes_nothing(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["reset with SELECT only"]
    assert record["status"] == "failed"
    message = record["result"]["msg"]
    assert message.startswith("resetting migration steps on 127.0.0.1/%s was refused: " % databases["status"].name)
    assert "permission denied for table DataMigrations" in message
    assert "Grant the login the rights in docs/least-privilege.md" in message
    assert "\n" not in message
    assert databases["status"].snapshot() == before["status"]
    proven(request)


def test_reset_login_with_exactly_the_documented_grants_resets_and_audits(least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["reset with the documented grants"]
    assert record["status"] == "ok", record["result"]["msg"]
    assert record["result"]["changed"] is True
    database = databases["reset"]
    assert database.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert len(database.history_messages()) == 1 + 3
    proven(request)


def test_reset_login_without_insert_fails_when_auditing_and_rolls_the_updates_back(least_privilege, request):
    run, databases, before = least_privilege
    audited = run.by_task()["reset without INSERT, audited"]
    assert audited["status"] == "failed"
    message = audited["result"]["msg"]
    assert message.startswith("writing the audit history on 127.0.0.1/%s was refused: "
                              % databases["reset_without_insert"].name)
    assert "permission denied for table DataMigrationHistories" in message
    # The next task found all three steps still to reset: the audited run's updates were rolled back.
    unaudited = run.by_task()["reset without INSERT, audit false"]
    assert unaudited["status"] == "ok", unaudited["result"]["msg"]
    assert [step["from"] for step in unaudited["result"]["reset_steps"]] == ["error", "pending", "pending"]
    assert databases["reset_without_insert"].history_messages() == [HISTORY[0][2]]
    proven(request)


def test_status_login_without_the_hangfire_grants_gets_the_age_rule_and_a_warning_naming_them(
        least_privilege, request):
    run, databases, before = least_privilege
    record = run.by_task()["status without the Hangfire grants"]
    assert record["status"] == "ok", record["result"]["msg"]
    facts = record["result"]["ansible_facts"]["generate_migrations"]
    assert facts["evidence"] == "age" and facts["hangfire"]["available"] is False
    assert facts["hangfire"]["reason"] == "SELECT on HangFire.Job, HangFire.State, HangFire.Server is not granted " \
        "to this login"
    # The age rule: rds and report are pending for two hours, within Generate 13.1's 30000 s.
    assert facts["failed_steps"] == ["ods"] and facts["queued_steps"] == ["rds", "report"]
    [warning] = record["result"]["warnings"]
    assert warning.startswith("Hangfire's tables cannot be read (") and "permission denied for schema HangFire" in warning
    assert warning.endswith("grant SELECT on HangFire.Job, HangFire.State, HangFire.Server to this login "
                            "(docs/least-privilege.md)")
    proven(request)
