"""The run order over a fake connection: read, plan, compare-and-set, re-plan once, commit or roll back."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import data_migrations, migration_tables

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
TRIGGER = NOW - datetime.timedelta(hours=1)
COLUMNS = ["StatusRowId", "StatusRowCode", "StatusRowName", "TypeCode", "TypeName", "DataMigrationId",
           "DataMigrationTypeId", "DataMigrationStatusId", "LastTriggerDate", "LastDurationInSeconds",
           "DatabaseVersion", "MetadataStatus"]
STATE_COLUMNS = ["Kind", "Id", "Number", "Name", "Date", "Detail", "Arguments", "StateData"]
STATUS_NAMES = {1: ("initial", "Initial"), 2: ("pending", "Pending"), 3: ("processing", "Processing"),
                4: ("error", "Error"), 5: ("success", "Success")}
CODES = ("ods", "rds", "report")


def processing_job(job_id, type_code, server_id):
    """A job row of the evidence read: Generate's migration of ``type_code``, Processing on ``server_id``."""
    invocation = json.dumps({"Type": "IAppRepository, generate.core", "Method": "ExecuteSqlBasedMigration"})
    arguments = json.dumps([json.dumps(type_code), None])
    state = json.dumps({"ServerId": server_id, "WorkerId": "w1"})
    return ("job", str(job_id), None, "Processing", TRIGGER, invocation, arguments, state)


class FakeDatabase:
    """A tiny in-memory Generate database: steps with status ids and trigger dates, Hangfire's rows,
    transactions (what is not committed is undone by a rollback), and Generate acting on its own
    just before a given UPDATE (``events``), as another session that commits."""

    def __init__(self, statuses, events=(), nocount=False, hangfire=()):
        self.committed = [[status_id, TRIGGER] for status_id in statuses]
        self.steps = [list(step) for step in self.committed]
        self.hangfire = list(hangfire)
        self.events = list(events)
        self.nocount = nocount
        self.updates = 0
        self.sent = []

    def generate_sets(self, step_id, status_id):
        """Generate (another session) sets a step's status with a new trigger date and commits."""
        trigger = NOW - datetime.timedelta(seconds=len(self.sent))
        for steps in (self.committed, self.steps):
            steps[step_id - 1] = [status_id, trigger]

    def step_rows(self):
        rows = []
        used = set()
        for step_id, (status_id, trigger) in enumerate(self.steps, start=1):
            used.add(status_id)
            code = CODES[step_id - 1]
            rows.append((status_id, STATUS_NAMES[status_id][0], STATUS_NAMES[status_id][1], code, code.upper(),
                         step_id, step_id, status_id, trigger, 120, "13.1", "OK"))
        for status_id in STATUS_NAMES:
            if status_id not in used:
                rows.append((status_id, STATUS_NAMES[status_id][0], STATUS_NAMES[status_id][1]) + (None,) * 9)
        return rows

    def evidence_rows(self, sql):
        # The database's clock comes first in every evidence read.
        rows = [("clock", None, None, None, NOW, None, None, None)]
        if "'step'" in sql:
            rows += [("step", str(step_id), status_id, None, trigger, None, None, None)
                     for step_id, (status_id, trigger) in enumerate(self.steps, start=1)]
        if "'server'" in sql:
            rows += [row for row in self.hangfire if row[0] in ("server", "job")]
        return rows

    def update(self, params):
        new, step_id, read = params
        if self.events and self.events[0][0] == self.updates:
            self.events.pop(0)[1](self)
        self.updates += 1
        if self.steps[step_id - 1][0] != read:
            return -1 if self.nocount else 0
        self.steps[step_id - 1][0] = new
        return -1 if self.nocount else 1

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.sent.append(("COMMIT", ()))
        self.committed = [list(step) for step in self.steps]

    def rollback(self):
        self.sent.append(("ROLLBACK", ()))
        self.steps = [list(step) for step in self.committed]

    def close(self):
        self.sent.append(("CLOSE", ()))


class FakeCursor:
    def __init__(self, database):
        self.database = database
        self.description = None
        self.rowcount = -1
        self._rows = []

    def execute(self, sql, *params):
        kind = "EVIDENCE" if sql.startswith("SELECT '") else sql.split()[0]
        self.database.sent.append((kind, params))
        if kind == "SELECT":
            self.description = [(name,) for name in COLUMNS]
            self._rows = self.database.step_rows()
        elif kind == "EVIDENCE":
            self.description = [(name,) for name in STATE_COLUMNS]
            self._rows = self.database.evidence_rows(sql)
        elif kind == "UPDATE":
            self.rowcount = self.database.update(params)
        return self

    def fetchmany(self, size):
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def close(self):
        pass


OPTIONS = {"schema": "App", "database": "generate", "server": "sql01", "state": "reset", "stuck_after": 1800,
           "history_lines": 5, "audit": True, "audit_note": None, "hangfire": "auto", "hangfire_schema": "HangFire",
           "hangfire_server_timeout": 300}


def run(database, check_mode=False, **options):
    table = migration_tables.MigrationTable(database, dict(OPTIONS, **options))
    check = data_migrations.MigrationCheck(table, table.options, check_mode)
    check.read().plan()
    check.apply()
    return check.dump()


def kinds(database):
    return [kind for kind, _params in database.sent]


def statuses(database):
    return [status_id for status_id, _trigger in database.committed]


def test_reset_sends_reads_updates_guard_audit_and_commit_only():
    database = FakeDatabase([4, 2, 2])
    result = run(database)
    assert result["changed"] is True
    assert kinds(database) == ["SELECT", "EVIDENCE", "UPDATE", "UPDATE", "UPDATE", "EVIDENCE", "INSERT", "COMMIT"]
    # Each UPDATE is a compare-and-set: new status, step id, status read.
    assert [params for kind, params in database.sent if kind == "UPDATE"] == [(5, 1, 4), (5, 2, 2), (5, 3, 2)]
    assert statuses(database) == [5, 5, 5]


def test_reset_reports_the_state_it_started_from_and_the_state_after():
    # ods error, rds pending an hour (stuck with stuck_after 1800), report success.
    result = run(FakeDatabase([4, 2, 5]))
    assert result["before"] == {"state": "failed", "failed_steps": ["ods", "rds"], "stuck_steps": ["rds"]}
    after = result["ansible_facts"]["generate_migrations"]
    assert (after["state"], after["failed_steps"]) == ("ok", [])


def test_status_reports_the_same_state_before_as_in_the_fact():
    result = run(FakeDatabase([4, 5, 5]), state="status")
    reported = result["ansible_facts"]["generate_migrations"]
    assert result["before"] == {"state": reported["state"], "failed_steps": reported["failed_steps"],
                                "stuck_steps": []}
    assert result["before"]["state"] == "failed"


def test_status_check_sends_two_selects_and_rolls_back():
    database = FakeDatabase([5, 5, 5])
    result = run(database, state="status")
    assert result["changed"] is False
    assert kinds(database) == ["SELECT", "EVIDENCE", "ROLLBACK"]


def test_check_mode_never_writes():
    database = FakeDatabase([4, 5, 5])
    result = run(database, check_mode=True)
    assert result["changed"] is True
    assert "UPDATE" not in kinds(database) and "INSERT" not in kinds(database)
    assert "COMMIT" not in kinds(database)


def test_conflict_rolls_back_reads_again_and_replans_once():
    # Before the first UPDATE another run resets everything; the re-plan finds nothing to do.
    def another_run_resets_all(database):
        for steps in (database.committed, database.steps):
            for step in steps:
                step[0] = 5
    database = FakeDatabase([4, 2, 2], events=[(0, another_run_resets_all)])
    result = run(database)
    assert result["changed"] is False
    assert kinds(database) == ["SELECT", "EVIDENCE", "UPDATE", "ROLLBACK", "SELECT", "EVIDENCE", "ROLLBACK"]


def test_conflict_never_overwrites_a_step_that_became_processing():
    # Between read and write Generate started rds on a live server: the re-plan defers instead of resetting.
    def generate_starts_rds(database):
        database.generate_sets(2, 3)
        database.hangfire += [("server", "bg:1", None, None, NOW, None, None, None), processing_job(7, "rds", "bg:1")]
    database = FakeDatabase([4, 4, 5], events=[(1, generate_starts_rds)], hangfire=[])
    result = run(database)
    assert result["changed"] is False and result["deferred"] is True
    assert "COMMIT" not in kinds(database)
    assert statuses(database) == [4, 3, 5]


def test_a_step_not_being_reset_that_starts_meanwhile_rolls_the_reset_back():
    # rds is reset; meanwhile Generate starts report (not part of the reset): the guard sees it.
    def generate_starts_report(database):
        database.generate_sets(3, 2)
        database.hangfire += [("server", "bg:1", None, None, NOW, None, None, None),
                              processing_job(8, "report", "bg:1")]
    database = FakeDatabase([5, 4, 5], events=[(0, generate_starts_report)], hangfire=[])
    result = run(database)
    assert result["changed"] is False and result["deferred"] is True
    assert kinds(database).count("UPDATE") == 1
    assert "COMMIT" not in kinds(database)
    assert statuses(database) == [5, 4, 2]


def test_row_count_minus_one_still_detects_the_conflict():
    # SET NOCOUNT ON: every UPDATE answers -1. The guard read finds rds changed and rolls back.
    def generate_fixes_rds(database):
        database.generate_sets(2, 5)
    database = FakeDatabase([4, 4, 5], events=[(1, generate_fixes_rds)], nocount=True)
    result = run(database)
    assert result["changed"] is True
    assert result["reset_steps"] == [{"id": 1, "type_code": "ods", "from": "error", "to": "success"}]
    assert kinds(database).count("COMMIT") == 1 and kinds(database).count("ROLLBACK") >= 1
    assert statuses(database) == [5, 5, 5]


def test_row_count_minus_one_commits_a_reset_that_went_through():
    database = FakeDatabase([4, 2, 5], nocount=True)
    result = run(database)
    assert result["changed"] is True
    assert kinds(database) == ["SELECT", "EVIDENCE", "UPDATE", "UPDATE", "EVIDENCE", "INSERT", "COMMIT"]
    assert statuses(database) == [5, 5, 5]


def generate_runs_and_fails_again(database):
    """A whole Generate run of ods between read and write: error again, with a new trigger date."""
    database.generate_sets(1, 4)


def test_a_run_that_started_and_ended_meanwhile_is_not_overwritten():
    # The status read (error) is still there, so the UPDATE matches; the trigger date tells the run apart.
    database = FakeDatabase([4, 5, 5], events=[(0, generate_runs_and_fails_again)])
    result = run(database)
    assert result["changed"] is True
    assert kinds(database) == ["SELECT", "EVIDENCE", "UPDATE", "EVIDENCE", "ROLLBACK", "SELECT", "EVIDENCE",
                               "UPDATE", "EVIDENCE", "INSERT", "COMMIT"]
    # The reset that was committed is the one planned on the new run's row.
    assert database.committed[0][0] == 5 and database.committed[0][1] > TRIGGER


def test_second_conflict_fails_with_nothing_written():
    database = FakeDatabase([4, 4, 5], events=[(0, generate_runs_and_fails_again),
                                               (2, generate_runs_and_fails_again)])
    with pytest.raises(migration_tables.RunFailed, match="changed twice while being reset"):
        run(database)
    assert "COMMIT" not in kinds(database)
    assert kinds(database).count("ROLLBACK") >= 2


def test_audit_false_sends_no_insert():
    database = FakeDatabase([4, 5, 5])
    run(database, audit=False)
    assert "INSERT" not in kinds(database)
