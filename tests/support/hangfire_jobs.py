"""Hangfire's rows, written the way Hangfire.SqlServer writes them, for the test databases and the stand-in app.

A job is a ``Job`` row with its current ``State`` row (``StateId``/``StateName``
point at it), plus a ``JobQueue`` row while it waits in a queue; a server is a
``Server`` row whose ``LastHeartbeat`` moves every time it beats. The
``InvocationData`` is written in the layout Generate uses (long keys), or in
compatibility level 170's short keys when asked.
"""

from __future__ import annotations

import datetime
import json

# Generate's migration jobs: method -> (interface, parameter types), from HangfireHelper.cs.
INTERFACES = {
    "ExecuteSqlBasedMigration": ("generate.core.Interfaces.Repositories.App.IAppRepository, generate.core",
                                 ["System.String", "Hangfire.IJobCancellationToken, Hangfire.Core"]),
    "CompleteMigration": ("generate.core.Interfaces.Repositories.App.IAppRepository, generate.core",
                          ["System.String", "System.String"]),
    "ExecuteReportMigrationByYearLevelAndCategorySet": (
        "generate.core.Interfaces.Repositories.RDS.IFactReportRepository, generate.core",
        ["System.String"] * 6),
    "MarkReportAsComplete": ("generate.core.Interfaces.Repositories.App.IAppRepository, generate.core",
                             ["System.String"]),
    "Migrate_FactStudentCounts": ("generate.core.Interfaces.Repositories.RDS.IFactStudentCountRepository, "
                                  "generate.core", ["System.String", "System.String"]),
    "fsMetaRefresh": ("generate.infrastructure.Helpers.HangfireHelper, generate.infrastructure", ["System.Boolean"]),
}
STATE_REASONS = {"Enqueued": "Triggered by DelayedJobScheduler", "Processing": None, "Scheduled": None,
                 "Awaiting": "Continuation", "Succeeded": None, "Failed": "An exception occurred", "Deleted": None}


def utc_now():
    """Naive UTC now, as Hangfire stores dates."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


def arguments_for(method, type_code):
    """The job's arguments as Generate passes them, type code first where the method takes one."""
    if method in ("ExecuteSqlBasedMigration",):
        return [type_code, None]
    if method == "CompleteMigration":
        return [type_code, "error"]
    if method == "ExecuteReportMigrationByYearLevelAndCategorySet":
        return ["c002", "2025", "sea", "CSA", None, None]
    if method == "MarkReportAsComplete":
        return ["c002"]
    if method == "Migrate_FactStudentCounts":
        return ["2025", "submission"]
    return [True]


def invocation_data(method, arguments, layout="long"):
    """(InvocationData, Arguments) column texts: each argument JSON-encoded inside a JSON array."""
    interface, parameter_types = INTERFACES[method]
    encoded = json.dumps([None if value is None else json.dumps(value) for value in arguments])
    if layout == "170":
        return json.dumps({"t": interface, "m": method, "p": parameter_types}), encoded
    return json.dumps({"Type": interface, "Method": method, "ParameterTypes": json.dumps(parameter_types),
                       "Arguments": None}), encoded


class HangfireTables:
    """Writes Hangfire rows through a cursor, into the tables of one schema (``table`` quotes a name)."""

    def __init__(self, table):
        self.table = table

    def beat(self, cursor, server_id, when=None):
        """Insert the server, or move its heartbeat to ``when`` (now by default)."""
        when = when or utc_now()
        cursor.execute('UPDATE %s SET "LastHeartbeat" = ? WHERE "Id" = ?' % self.table("Server"), when, server_id)
        if cursor.rowcount == 0:
            data = json.dumps({"WorkerCount": 20, "Queues": ["default"], "StartedAt": when.isoformat() + "Z"})
            cursor.execute('INSERT INTO %s ("Id", "Data", "LastHeartbeat") VALUES (?, ?, ?)' % self.table("Server"),
                           server_id, data, when)

    def remove_server(self, cursor, server_id):
        """A server that stopped gracefully removes its own row."""
        cursor.execute('DELETE FROM %s WHERE "Id" = ?' % self.table("Server"), server_id)

    def add_job(self, cursor, method, type_code=None, state="Enqueued", since=None, server_id=None, layout="long"):
        """Create a job in ``state`` (since ``since``); return its id."""
        since = since or utc_now()
        invocation, arguments = invocation_data(method, arguments_for(method, type_code), layout)
        cursor.execute(
            'INSERT INTO %s ("StateName", "InvocationData", "Arguments", "CreatedAt") VALUES (?, ?, ?, ?)'
            % self.table("Job"), None, invocation, arguments, since)
        job_id = cursor.execute('SELECT MAX("Id") FROM %s' % self.table("Job")).fetchone()[0]
        self.set_state(cursor, job_id, state, since, server_id)
        return int(job_id)

    def set_state(self, cursor, job_id, state, since=None, server_id=None):
        """Move a job to ``state``: a new State row, the job pointing at it, its queue row as Hangfire keeps it."""
        since = since or utc_now()
        data = {}
        if state == "Processing":
            data = {"StartedAt": since.isoformat() + "Z", "ServerId": server_id, "WorkerId": "worker-1"}
        elif state == "Enqueued":
            data = {"EnqueuedAt": since.isoformat() + "Z", "Queue": "default"}
        cursor.execute(
            'INSERT INTO %s ("JobId", "Name", "Reason", "CreatedAt", "Data") VALUES (?, ?, ?, ?, ?)'
            % self.table("State"), job_id, state, STATE_REASONS.get(state), since, json.dumps(data))
        state_id = cursor.execute('SELECT MAX("Id") FROM %s WHERE "JobId" = ?' % self.table("State"),
                                  job_id).fetchone()[0]
        cursor.execute('UPDATE %s SET "StateId" = ?, "StateName" = ? WHERE "Id" = ?' % self.table("Job"),
                       state_id, state, job_id)
        cursor.execute('DELETE FROM %s WHERE "JobId" = ?' % self.table("JobQueue"), job_id)
        if state in ("Enqueued", "Processing"):
            # A job Processing has been fetched: its row's FetchedAt is as fresh as a live worker keeps it (1.8's
            # keep-alive), so that a running Hangfire server does not fetch it again; a test of a dead worker's
            # row moves FetchedAt itself.
            fetched = utc_now() if state == "Processing" else None
            cursor.execute('INSERT INTO %s ("JobId", "Queue", "FetchedAt") VALUES (?, ?, ?)'
                           % self.table("JobQueue"), job_id, "default", fetched)
