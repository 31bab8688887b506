"""The run order over a fake connection: read, plan, compare-and-set, re-plan once, commit or roll back."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import migration_table

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
COLUMNS = ["StatusRowId", "StatusRowCode", "StatusRowName", "TypeCode", "TypeName", "DataMigrationId",
           "DataMigrationTypeId", "DataMigrationStatusId", "LastTriggerDate", "DatabaseVersion", "MetadataStatus"]
STATUS_NAMES = {1: ("initial", "Initial"), 2: ("pending", "Pending"), 3: ("processing", "Processing"),
                4: ("error", "Error"), 5: ("success", "Success")}


def rows_for(statuses):
    """Rows of the steps SELECT for steps ods, rds, report with the given status ids."""
    rows = []
    used = set()
    for step_id, (code, status_id) in enumerate(zip(("ods", "rds", "report"), statuses), start=1):
        used.add(status_id)
        rows.append((status_id, STATUS_NAMES[status_id][0], STATUS_NAMES[status_id][1], code, code.upper(),
                     step_id, step_id, status_id, NOW - datetime.timedelta(hours=1), "13.1", "OK"))
    for status_id in STATUS_NAMES:
        if status_id not in used:
            rows.append((status_id, STATUS_NAMES[status_id][0], STATUS_NAMES[status_id][1]) + (None,) * 8)
    return rows


class FakeCursor:
    def __init__(self, database):
        self.database = database
        self.description = None
        self.rowcount = -1
        self._rows = []

    def execute(self, sql, *params):
        self.database.sent.append((sql.split()[0], params))
        if sql.startswith("SELECT s."):
            self.description = [(name,) for name in COLUMNS]
            self._rows = rows_for(self.database.reads.pop(0))
        elif sql.startswith("SELECT r."):
            self.description = [("a",), ("b",), ("c",)]
            self._rows = []
        elif sql.startswith("UPDATE"):
            conflicts = self.database.conflicts
            self.rowcount = 0 if conflicts and conflicts.pop(0) else 1
        return self

    def fetchmany(self, size):
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def close(self):
        pass


class FakeConnection:
    """Answers the steps SELECT with the next entry of ``reads``; an UPDATE conflicts per ``conflicts``."""

    def __init__(self, reads, conflicts=()):
        self.reads = list(reads)
        self.conflicts = list(conflicts)
        self.sent = []

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.sent.append(("COMMIT", ()))

    def rollback(self):
        self.sent.append(("ROLLBACK", ()))

    def close(self):
        self.sent.append(("CLOSE", ()))


OPTIONS = {"schema": "App", "database": "generate", "server": "sql01", "state": "reset", "stuck_after": 30000,
           "history_lines": 5, "audit": True, "audit_note": None}


def run(connection, check_mode=False, **options):
    table = migration_table.MigrationTable(connection, dict(OPTIONS, **options))
    return migration_table.run(table, table.options, check_mode, clock=lambda: NOW)


def kinds(connection):
    return [kind for kind, _params in connection.sent]


def test_reset_sends_read_history_updates_audit_and_commit_only():
    connection = FakeConnection([(4, 2, 2)])
    result = run(connection)
    assert result["changed"] is True
    assert kinds(connection) == ["SELECT", "SELECT", "UPDATE", "UPDATE", "UPDATE", "INSERT", "COMMIT"]
    # Each UPDATE is a compare-and-set: new status, step id, status read.
    assert [params for kind, params in connection.sent if kind == "UPDATE"] == [(5, 1, 4), (5, 2, 2), (5, 3, 2)]


def test_reset_reports_the_state_it_started_from_and_the_state_after():
    # ods error, rds pending an hour (stuck with stuck_after 1800), report success.
    result = run(FakeConnection([(4, 2, 5)]), stuck_after=1800)
    assert result["before"] == {"state": "failed", "failed_steps": ["ods", "rds"], "stuck_steps": ["rds"]}
    after = result["ansible_facts"]["generate_migrations"]
    assert (after["state"], after["failed_steps"]) == ("ok", [])


def test_status_reports_the_same_state_before_as_in_the_fact():
    result = run(FakeConnection([(4, 5, 5)]), state="status")
    reported = result["ansible_facts"]["generate_migrations"]
    assert result["before"] == {"state": reported["state"], "failed_steps": reported["failed_steps"],
                                "stuck_steps": []}
    assert result["before"]["state"] == "failed"


def test_status_check_reads_once_and_rolls_back():
    connection = FakeConnection([(5, 5, 5)])
    result = run(connection, state="status")
    assert result["changed"] is False
    assert kinds(connection) == ["SELECT", "ROLLBACK"]


def test_check_mode_never_writes():
    connection = FakeConnection([(4, 5, 5)])
    result = run(connection, check_mode=True)
    assert result["changed"] is True
    assert "UPDATE" not in kinds(connection) and "INSERT" not in kinds(connection)
    assert "COMMIT" not in kinds(connection)


def test_conflict_rolls_back_reads_again_and_replans_once():
    # The first UPDATE finds the row changed; on the second read another run has already reset everything.
    connection = FakeConnection([(4, 2, 2), (5, 5, 5)], conflicts=[True])
    result = run(connection)
    assert result["changed"] is False
    assert kinds(connection) == ["SELECT", "SELECT", "UPDATE", "ROLLBACK", "SELECT", "ROLLBACK"]


def test_conflict_never_overwrites_a_step_that_became_processing():
    # Between read and write Generate started rds: the re-plan defers instead of resetting.
    connection = FakeConnection([(4, 2, 2), (4, 3, 2)], conflicts=[True])
    result = run(connection)
    assert result["changed"] is False and result["deferred"] is True
    assert kinds(connection).count("UPDATE") == 1
    assert "COMMIT" not in kinds(connection)


def test_second_conflict_fails_with_nothing_written():
    connection = FakeConnection([(4, 2, 2), (4, 2, 2)], conflicts=[False, True, True])
    with pytest.raises(migration_table.RunFailed, match="changed twice while being reset"):
        run(connection)
    assert "COMMIT" not in kinds(connection)
    assert kinds(connection).count("ROLLBACK") >= 2


def test_audit_false_sends_no_insert():
    connection = FakeConnection([(4, 5, 5)])
    run(connection, audit=False)
    assert "INSERT" not in kinds(connection)
