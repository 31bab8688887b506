"""A replica of CEDS Generate's background app and its Hangfire server, over a Generate test database.

It is copied from Generate's and Hangfire's source, one version line at a time,
and writes what they write, in Hangfire's own tables (``Job``, ``State``,
``JobQueue``, ``JobParameter``, ``Server``) and Generate's (``DataMigrations``,
``DataMigrationHistories``, ``GenerateReports``). Every behaviour names the file
it copies; where a tag is not named it is the line's (below). Nothing here is a
model of our own: where Generate's code does something odd (an ODS error that
writes "REPORT Migration Complete - successful", a continuation that unlocks a
report only while no other report job runs), the replica does it too.

The version lines (``VERSION_LINES``):

- ``"11"``: ``App.Migrate_Data`` of tag 11.4 (each type runs its own work). Generate
  publishes no C# before 12.0 (tag 11.4 holds only ``generate.database``), so the
  C# of V13.2 stands in for the 11.x background app; Hangfire 1.7.31.
- ``"12"``: Generate 12.0 to 13.2: ``App.Migrate_Data`` of 12.0 (unchanged through
  V13.3: the whole pipeline over the locked reports, whatever the type), the C# of
  V13.2, Hangfire 1.7.31 (heartbeats on the app server's clock; a worker holds its
  ``JobQueue`` row in an open transaction for the whole job).
- ``"13.3"``: the code of V13.3 (its C# is V13.2's for every part copied here),
  Hangfire 1.8.23 (heartbeats on the database's clock; sliding invisibility).

What it leaves out, because the test databases do not have it: Generate's task
tables (``DataMigrationTasks``: the pipeline's "work" is a sleep of
``pipeline_seconds``, its task list is empty), the RDS tables (the selected
school years and category sets are the ``years`` and ``category_sets`` knobs),
Hangfire's counters, sets and hashes (statistics only), and its culture job
parameters. The ``Migrate_Data`` SQL itself is not run (there is no SQL Server
here): the replica writes its rows and history lines from Python, with the
database's clock where the procedure uses ``getutcdate()``.

Run cost: an idle replica holds no thread and no database connection; the
heartbeats of every replica of the process come from one shared thread
(``BEATS``), and a worker thread exists only while it fetches or performs a job.
Each write goes through a short-lived autocommit connection, and at most
``CONNECTIONS`` of them are open at once for all the replicas of the process.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
import time
import uuid
import weakref

import pyodbc

from .hangfire_jobs import invocation_data

VERSION_LINES = ("11", "12", "13.3")
# Hangfire.SqlServer per line: generate.background/generate.background.csproj of 12.0 to V13.2 and of V13.3.
HANGFIRE_VERSIONS = {"11": "1.7.31", "12": "1.7.31", "13.3": "1.8.23"}

# Hangfire.Core Server/BackgroundJobServerOptions (1.7.31, 1.8.23): HeartbeatInterval 30 s, ServerTimeout 5 min,
# ServerCheckInterval 5 min; WorkerCount Math.Min(Environment.ProcessorCount * 5, 20): 20 on a Generate server.
HEARTBEAT_SECONDS = 30.0
SERVER_TIMEOUT_SECONDS = 300
SERVER_CHECK_SECONDS = 300
WORKER_COUNT = 20
# Hangfire.SqlServer SqlServerStorageOptions: 1.7.31 InvisibilityTimeout 30 min (DequeueUsingTransaction), 1.8.23
# SlidingInvisibilityTimeout 5 min, kept alive every fifth of it (SqlServerTimeoutJob ExecuteKeepAliveQueryIfRequired).
INVISIBILITY_SECONDS = 1800
SLIDING_INVISIBILITY_SECONDS = 300
KEEP_ALIVE_SECONDS = SLIDING_INVISIBILITY_SECONDS / 5
# Hangfire.Core Client/CoreBackgroundJobFactory: a job is created expiring in 30 days until its first state;
# States/CoreStateMachine: a final state expires the job after JobExpirationTimeout, 1 day.
CREATED_EXPIRATION = datetime.timedelta(days=30)
FINAL_EXPIRATION = datetime.timedelta(days=1)
FINAL_STATES = ("Succeeded", "Deleted")
QUEUE = "default"
# generate.infrastructure/Repositories/App/AppRepository.cs ExecuteSqlBasedMigration: the watcher task sleeps
# 1000 ms between two jobCancellationToken.ThrowIfCancellationRequested().
TOKEN_CHECK_SECONDS = 1.0
# AppRepository.cs GetReports(int skip = 0, int take = 50): CompleteMigration and MarkReportsAsComplete see the
# first 50 active reports by ReportCode only.
REPORT_PAGE = 50
# The message SQL Server gives a deadlock victim (error 1205): what the "pipeline" fault makes Migrate_Data raise.
DEADLOCK_MESSAGE = ("Transaction (Process ID 61) was deadlocked on lock resources with another process and has been "
                    "chosen as the deadlock victim. Rerun the transaction.")
# What SqlClient throws when SqlCommand.Cancel() stops a running command (a SqlException, not an
# OperationCanceledException: dotnet/SqlClient issues 26 and 1853).
CANCELLED_MESSAGE = ("A severe error occurred on the current command.  The results, if any, should be discarded.\r\n"
                     "Operation cancelled by user.")
STACK_TRACE = {
    "ExecuteSqlBasedMigration": "   at generate.infrastructure.Repositories.App.AppRepository.ExecuteSqlBasedMigration("
                                "String dataMigrationTypeCode, IJobCancellationToken jobCancellationToken)",
}
# generate.database/StoredProcedures/Create/RDS.Create_ReportData.StoredProcedure.sql (V13.3): the two legacy reports
# whose lock the procedure leaves in place.
KEPT_LOCKED = ("studentfederalprogramsparticipation", "studentmultifedprogsparticipation")
# The database connections the replicas of this process hold at once, at most (one per running unit of work).
CONNECTIONS = 16


class SharedTimer:
    """One thread that calls ``beat_while_running()`` of every registered object, each every ``interval`` seconds.

    It runs while at least one object is registered; one beat at a time, so that
    a fleet's heartbeats hold at most one database connection between them.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._due = {}
        self._thread = None

    def add(self, beating):
        """Beat ``beating`` from now on, its first beat one interval from now."""
        with self._changed:
            self._due[beating] = time.monotonic() + beating.interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="standin-heartbeats", daemon=True)
                self._thread.start()
            self._changed.notify()

    def remove(self, beating):
        """Beat ``beating`` no more; the last one removed ends the thread, waited for."""
        with self._changed:
            self._due.pop(beating, None)
            thread = None
            if not self._due:
                # An object added from now on starts a thread of its own; this one ends at its next look.
                thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self):
        this = threading.current_thread()
        with self._changed:
            while self._thread is this:
                beating, when = min(self._due.items(), key=lambda item: item[1])
                wait = when - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                self._due[beating] = time.monotonic() + beating.interval
                # The beat writes to the database: let add() and remove() go on meanwhile.
                self._changed.release()
                try:
                    beating.beat_while_running()
                finally:
                    self._changed.acquire()


BEATS = SharedTimer()
_SLOTS = threading.BoundedSemaphore(CONNECTIONS)
# Connecting and disconnecting, one thread at a time: a run crashed inside the ODBC driver's disconnect while several
# replica workers closed their connections at once.
_CONNECTING = threading.Lock()
_REGISTRY_LOCK = threading.Lock()
# Per database (connection string, Hangfire schema): the lock that stands for Hangfire's distributed job locks
# (sp_getapplock) and its fetch's row locks; the JobQueue rows that 1.7 workers hold in their open transactions;
# and the live replicas to wake when a job is enqueued (SqlServerJobQueue.NewItemInQueueEvent, one per process).
_JOB_LOCKS = {}
_HELD = {}
_LIVE = {}


def _registry(key):
    with _REGISTRY_LOCK:
        if key not in _JOB_LOCKS:
            _JOB_LOCKS[key] = threading.RLock()
            _HELD[key] = {}
            _LIVE[key] = weakref.WeakSet()
        return _JOB_LOCKS[key], _HELD[key], _LIVE[key]


class SqlError(Exception):
    """An error raised by SQL Server (a SqlException), with its message."""


class _Vanished(Exception):
    """The worker's process is gone (crash or stop): it writes nothing more."""


def app_utc_now(offset=0.0):
    """DateTime.UtcNow on the app server, whose clock is ``offset`` seconds ahead of this machine's."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now + datetime.timedelta(seconds=offset)


def iso(moment):
    """A DateTime as Hangfire's JobHelper.SerializeDateTime writes it without compatibility level 170 ("o")."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def compact(value):
    """JSON as Newtonsoft writes it (Hangfire's SerializationHelper): no spaces."""
    return json.dumps(value, separators=(",", ":"))


def version_line(version):
    """The version line of a Generate version ("13.1" -> "12"), or of a line's own name; None stays None."""
    if version is None or version in VERSION_LINES:
        return version
    numbers = []
    for part in str(version).strip().split("."):
        digits = "".join(character for character in part if character.isdigit())
        if not digits:
            break
        numbers.append(int(digits))
    if not numbers:
        raise ValueError("not a Generate version: %r" % (version,))
    numbers = tuple(numbers + [0])
    if numbers < (12, 0):
        return "11"
    if numbers < (13, 3):
        return "12"
    return "13.3"


class Database:
    """A Generate database reached through pyodbc: short-lived autocommit connections and its dialect's clock."""

    # The database's UTC now, and its local now (SQL Server's GETDATE()), in each dialect.
    CLOCKS = {
        "sqlite": ("strftime('%Y-%m-%d %H:%M:%f', 'now'{shift})", "strftime('%Y-%m-%d %H:%M:%f', 'now', "
                   "'localtime'{shift})"),
        "postgresql": ("((statement_timestamp() AT TIME ZONE 'UTC'){shift})", "(LOCALTIMESTAMP{shift})"),
        "sqlserver": ("DATEADD(second, {seconds}, SYSUTCDATETIME())", "DATEADD(second, {seconds}, GETDATE())"),
    }

    def __init__(self, connection_string):
        self.connection_string = connection_string
        self._kind = None

    @contextlib.contextmanager
    def cursor(self):
        """A cursor on a new autocommit connection, closed afterwards; at most CONNECTIONS open in the process."""
        with _SLOTS:
            with _CONNECTING:
                connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=5)
            try:
                if self._kind is None:
                    name = ("%s" % connection.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
                    self._kind = "sqlite" if "sqlite" in name else "postgresql" if "postgres" in name else "sqlserver"
                yield connection.cursor()
            finally:
                with _CONNECTING:
                    connection.close()

    @property
    def kind(self):
        """sqlite, postgresql or sqlserver, told by the driver at the first connection."""
        return self._kind

    def utc_now(self, seconds=0):
        """An SQL expression for the database's UTC now, shifted by ``seconds`` (SQL Server's SYSUTCDATETIME())."""
        return self._clock(0, seconds)

    def local_now(self, seconds=0):
        """An SQL expression for the database server's local now, shifted (SQL Server's GETDATE())."""
        return self._clock(1, seconds)

    def _clock(self, which, seconds):
        template = self.CLOCKS[self._kind][which]
        seconds = int(seconds)
        if self._kind == "sqlite":
            return template.format(shift=", '%+d seconds'" % seconds if seconds else "")
        if self._kind == "postgresql":
            return template.format(shift=" + INTERVAL '%d seconds'" % seconds if seconds else "")
        return template.format(seconds=seconds)


class HangfireStorage:
    """Hangfire's SQL Server storage and state machine for one database, on its real tables.

    Copied from Hangfire.SqlServer (SqlServerConnection, SqlServerWriteOnlyTransaction,
    SqlServerJobQueue, SqlServerTimeoutJob) and Hangfire.Core (BackgroundJobClient,
    States/BackgroundJobStateChanger, States/CoreStateMachine, ContinuationsSupportAttribute,
    and AutomaticRetryAttribute as Generate configures it) of ``version`` (1.7.31 or 1.8.23).
    Every method takes the cursor of the caller's unit of work.
    """

    def __init__(self, database, schema, version, clock_offset):
        self.database = database
        self.schema = schema
        self.version = version
        self.clock_offset = clock_offset
        self.lock, self.held, self.live = _registry((database.connection_string, schema))
        # Moves at every job enqueued, so that a worker knows when to wake the others.
        self.enqueued = 0

    @property
    def sliding(self):
        """Whether the queue uses 1.8's sliding invisibility (SqlServerStorageOptions.SlidingInvisibilityTimeout)."""
        return self.version != "1.7.31"

    def table(self, name):
        """A Hangfire table, quoted and schema-qualified."""
        return '"%s"."%s"' % (self.schema, name)

    def now(self):
        """DateTime.UtcNow of the app server (Hangfire writes its job and state dates from it)."""
        return app_utc_now(self.clock_offset)

    def _insert(self, cursor, table, columns, values):
        """Insert one row and return its identity, in the database's dialect (Hangfire: OUTPUT / SCOPE_IDENTITY())."""
        names = ", ".join('"%s"' % column for column in columns)
        marks = ", ".join("?" * len(values))
        if self.database.kind == "postgresql":
            return int(cursor.execute('INSERT INTO %s (%s) VALUES (%s) RETURNING "Id"' % (table, names, marks),
                                      *values).fetchone()[0])
        if self.database.kind == "sqlserver":
            return int(cursor.execute('INSERT INTO %s (%s) OUTPUT INSERTED."Id" VALUES (%s)' % (table, names, marks),
                                      *values).fetchone()[0])
        cursor.execute("INSERT INTO %s (%s) VALUES (%s)" % (table, names, marks), *values)
        return int(cursor.execute("SELECT last_insert_rowid()").fetchone()[0])

    # --- servers: SqlServerConnection AnnounceServer, Heartbeat, RemoveServer, RemoveTimedOutServers -------------

    def heartbeat(self, cursor, server_id, announce=False):
        """Move the server's LastHeartbeat to now: the app server's clock in 1.7.31 (DateTime.UtcNow), the database's
        in 1.8.23 (sysutcdatetime()). A server whose row is gone announces itself again, as Hangfire's server
        restarts on BackgroundServerGoneException."""
        clock, values = (self.database.utc_now(), []) if self.sliding else ("?", [self.now()])
        if not announce:
            cursor.execute('UPDATE %s SET "LastHeartbeat" = %s WHERE "Id" = ?' % (self.table("Server"), clock),
                           *(values + [server_id]))
            if cursor.rowcount != 0:
                return
        data = compact({"WorkerCount": WORKER_COUNT, "Queues": [QUEUE], "StartedAt": iso(self.now())})
        cursor.execute('DELETE FROM %s WHERE "Id" = ?' % self.table("Server"), server_id)
        cursor.execute('INSERT INTO %s ("Id", "Data", "LastHeartbeat") VALUES (?, ?, %s)'
                       % (self.table("Server"), clock), *([server_id, data] + values))

    def remove_server(self, cursor, server_id):
        """A server that stops gracefully removes its own row."""
        cursor.execute('DELETE FROM %s WHERE "Id" = ?' % self.table("Server"), server_id)

    def remove_timed_out_servers(self, cursor):
        """ServerWatchdog: remove the servers silent for ServerTimeout, judged by the app server's clock (1.7.31)
        or the database's (1.8.23)."""
        if self.sliding:
            cursor.execute('DELETE FROM %s WHERE "LastHeartbeat" < %s'
                           % (self.table("Server"), self.database.utc_now(-SERVER_TIMEOUT_SECONDS)))
        else:
            cursor.execute('DELETE FROM %s WHERE "LastHeartbeat" < ?' % self.table("Server"),
                           self.now() - datetime.timedelta(seconds=SERVER_TIMEOUT_SECONDS))

    # --- jobs: BackgroundJobClient.Create, state changes ------------------------------------------------------

    def create(self, cursor, method, arguments, parent=None):
        """BackgroundJob.Enqueue, or BackgroundJob.ContinueJobWith(parent) when ``parent`` is given: the Job row
        (StateName NULL, expiring in 30 days: SqlServerConnection.CreateExpiredJob), then its first state; return
        (job id, whether it was enqueued)."""
        invocation, encoded = invocation_data(method, arguments)
        now = self.now()
        with self.lock:
            job_id = self._insert(cursor, self.table("Job"), ("InvocationData", "Arguments", "CreatedAt", "ExpireAt"),
                                  [invocation, encoded, now, now + CREATED_EXPIRATION])
            if parent is None:
                self.apply(cursor, job_id, "Enqueued")
                return job_id, True
            return job_id, self._await(cursor, job_id, parent)

    def _await(self, cursor, job_id, parent):
        """ContinuationsSupportAttribute.AddContinuation: record the continuation in the parent's "Continuations"
        parameter; a parent already in a final state starts it (Succeeded) or deletes it (OnlyOnSucceededState, the
        option of ContinueJobWith) at once, otherwise it waits Awaiting."""
        continuations = self.continuations(cursor, parent)
        if not any(entry.get("JobId") == str(job_id) for entry in continuations):
            # JobContinuationOptions.OnlyOnSucceededState = 1.
            continuations.append({"JobId": str(job_id), "Options": 1})
            self.set_parameter(cursor, parent, "Continuations", compact(continuations))
        parent_state = self.state_name(cursor, parent)
        if parent_state == "Succeeded":
            self.apply(cursor, job_id, "Enqueued")
            return True
        if parent_state == "Deleted":
            self.apply(cursor, job_id, "Deleted", reason="Continuation condition was not met")
            return False
        next_state = compact({"$type": "Hangfire.States.EnqueuedState, Hangfire.Core", "Queue": QUEUE})
        self.apply(cursor, job_id, "Awaiting", {"ParentId": str(parent), "NextState": next_state,
                                                "Options": "OnlyOnSucceededState", "Expiration": "365.00:00:00"})
        return False

    def continuations(self, cursor, job_id):
        """The parent's continuations (its "Continuations" job parameter)."""
        row = cursor.execute('SELECT "Value" FROM %s WHERE "JobId" = ? AND "Name" = ?' % self.table("JobParameter"),
                             job_id, "Continuations").fetchone()
        return json.loads(row[0]) if row and row[0] else []

    def set_parameter(self, cursor, job_id, name, value):
        """SqlServerConnection.SetJobParameter (a merge on JobId and Name)."""
        cursor.execute('UPDATE %s SET "Value" = ? WHERE "JobId" = ? AND "Name" = ?' % self.table("JobParameter"),
                       value, job_id, name)
        if cursor.rowcount == 0:
            cursor.execute('INSERT INTO %s ("JobId", "Name", "Value") VALUES (?, ?, ?)' % self.table("JobParameter"),
                           job_id, name, value)

    def state_name(self, cursor, job_id):
        """The job's current state name (Job.StateName), or None."""
        row = cursor.execute('SELECT "StateName" FROM %s WHERE "Id" = ?' % self.table("Job"), job_id).fetchone()
        return row[0] if row else None

    def state_data(self, cursor, job_id):
        """SqlServerConnection.GetStateData: the current state's name and data, or (None, {})."""
        row = cursor.execute(
            'SELECT s."Name", s."Data" FROM %s s INNER JOIN %s j ON j."StateId" = s."Id" AND j."Id" = s."JobId" '
            'WHERE j."Id" = ?' % (self.table("State"), self.table("Job")), job_id).fetchone()
        if row is None:
            return None, {}
        return row[0], json.loads(row[1]) if row[1] else {}

    def apply(self, cursor, job_id, name, data=None, reason=None):
        """CoreStateMachine.ApplyState: a State row (CreatedAt: the app server's DateTime.UtcNow), the job pointing
        at it, the job expiring in a day in a final state and kept otherwise; an Enqueued job is queued
        (EnqueuedStateHandler, SqlServerJobQueue.Enqueue)."""
        now = self.now()
        if data is None:
            data = {"Enqueued": {"EnqueuedAt": iso(now), "Queue": QUEUE}}.get(name, {})
            if name == "Deleted":
                data = {"DeletedAt": iso(now)}
        state_id = self._insert(cursor, self.table("State"), ("JobId", "Name", "Reason", "CreatedAt", "Data"),
                                [job_id, name, reason, now, compact(data)])
        expire = now + FINAL_EXPIRATION if name in FINAL_STATES else None
        cursor.execute('UPDATE %s SET "StateId" = ?, "StateName" = ?, "ExpireAt" = ? WHERE "Id" = ?'
                       % self.table("Job"), state_id, name, expire, job_id)
        if name == "Enqueued":
            cursor.execute('INSERT INTO %s ("JobId", "Queue") VALUES (?, ?)' % self.table("JobQueue"), job_id, QUEUE)
            self.enqueued += 1

    def change_state(self, cursor, job_id, name, data=None, reason=None, expected=None, failure=None):
        """BackgroundJobStateChanger.ChangeState under the job's lock: nothing when the job is not in one of the
        ``expected`` states; else the election filters, then the state. Filters as Generate runs them
        (generate.background/Program.cs): AutomaticRetry(Attempts = 0, OnAttemptsExceeded = Delete) turns a
        Failed candidate into Deleted, and ContinuationsSupport moves the Awaiting continuations of a job reaching
        a final state (Enqueued after Succeeded, Deleted after Deleted). Return the state applied, or None."""
        with self.lock:
            current = self.state_name(cursor, job_id)
            if current is None and expected is not None:
                return None
            if expected is not None and current not in expected:
                return None
            if name == "Failed":
                name, data, reason = "Deleted", None, "Retries were disabled for this job."
                if self.sliding and failure is not None:
                    # 1.8.23's AutomaticRetryAttribute keeps the exception in the DeletedState.
                    data = {"DeletedAt": iso(self.now()),
                            "Exception": compact({"Type": "Microsoft.Data.SqlClient.SqlException",
                                                  "Message": "%s" % failure})}
            if name in FINAL_STATES:
                self._continue(cursor, job_id, name)
            self.apply(cursor, job_id, name, data, reason)
            return name

    def _continue(self, cursor, job_id, parent_state):
        """ContinuationsSupportAttribute.ExecuteContinuationsIfExist: each continuation still Awaiting goes to its
        next state, changed from Awaiting only; before the parent's own state is applied."""
        for entry in self.continuations(cursor, job_id):
            child = entry.get("JobId")
            if not child or self.state_name(cursor, child) != "Awaiting":
                continue
            if parent_state == "Succeeded":
                self.change_state(cursor, child, "Enqueued", expected=("Awaiting",))
            else:
                self.change_state(cursor, child, "Deleted", reason="Continuation condition was not met",
                                  expected=("Awaiting",))

    def processing_jobs(self, cursor):
        """MonitoringApi.ProcessingJobs: (job id, method) of every job in the Processing state, on any server."""
        rows = cursor.execute('SELECT "Id", "InvocationData" FROM %s WHERE "StateName" = ? ORDER BY "Id"'
                              % self.table("Job"), "Processing").fetchall()
        return [(int(row[0]), method_of(row[1])) for row in rows]

    # --- the queue: SqlServerJobQueue, SqlServerTransactionJob (1.7.31), SqlServerTimeoutJob (1.8.23) ------------

    def _visible(self):
        """The WHERE clause of a fetch: rows never fetched, or fetched longer ago than the invisibility timeout
        (GETUTCDATE(): the database's clock in both versions)."""
        timeout = SLIDING_INVISIBILITY_SECONDS if self.sliding else INVISIBILITY_SECONDS
        return '"Queue" = \'%s\' AND ("FetchedAt" IS NULL OR "FetchedAt" < %s)' % (
            QUEUE, self.database.utc_now(-timeout))

    def fetchable(self, cursor):
        """How many rows a worker of this version would fetch now."""
        rows = cursor.execute('SELECT "Id" FROM %s WHERE %s' % (self.table("JobQueue"), self._visible())).fetchall()
        with self.lock:
            return len([row for row in rows if int(row[0]) not in self.held])

    def fetch(self, cursor, worker):
        """Fetch the oldest visible row: 1.7.31 deletes it in a transaction it keeps open for the whole job (the
        row is held here, skipped by every other fetch as READPAST does, and visible again with FetchedAt NULL as
        soon as the worker's connection drops); 1.8.23 sets its FetchedAt to the database's now. Return
        (row id, job id, FetchedAt) or None."""
        with self.lock:
            rows = cursor.execute('SELECT "Id", "JobId" FROM %s WHERE %s ORDER BY "Id"'
                                  % (self.table("JobQueue"), self._visible())).fetchall()
            for row_id, job_id in rows:
                row_id, job_id = int(row_id), int(job_id)
                if row_id in self.held:
                    continue
                if not self.sliding:
                    self.held[row_id] = worker
                    return row_id, job_id, None
                cursor.execute('UPDATE %s SET "FetchedAt" = %s WHERE "Id" = ? AND %s' % (
                    self.table("JobQueue"), self.database.utc_now(), self._visible()), row_id)
                if cursor.rowcount == 1:
                    fetched_at = cursor.execute('SELECT "FetchedAt" FROM %s WHERE "Id" = ?'
                                                % self.table("JobQueue"), row_id).fetchone()[0]
                    return row_id, job_id, fetched_at
            return None

    def keep_alive(self, cursor, fetched):
        """SqlServerTimeoutJob.ExecuteKeepAliveQueryIfRequired (1.8.23): FetchedAt to the database's now, while the
        row is still this fetch's. Return the fetch with its new FetchedAt."""
        row_id, job_id, fetched_at = fetched
        cursor.execute('UPDATE %s SET "FetchedAt" = %s WHERE "Id" = ? AND "FetchedAt" = ?'
                       % (self.table("JobQueue"), self.database.utc_now()), row_id, fetched_at)
        if cursor.rowcount != 1:
            return fetched
        row = cursor.execute('SELECT "FetchedAt" FROM %s WHERE "Id" = ?' % self.table("JobQueue"), row_id).fetchone()
        return row_id, job_id, row[0]

    def requeue(self, cursor, fetched):
        """SqlServerTimeoutJob.Requeue (1.8.23): FetchedAt back to NULL, if the row is still this fetch's."""
        row_id, _job_id, fetched_at = fetched
        cursor.execute('UPDATE %s SET "FetchedAt" = NULL WHERE "Id" = ? AND "FetchedAt" = ?' % self.table("JobQueue"),
                       row_id, fetched_at)

    def remove_from_queue(self, cursor, fetched):
        """The job is done with its queue row: 1.7.31 commits the delete of its open transaction; 1.8.23 deletes
        the row if it is still this fetch's (same FetchedAt)."""
        row_id, _job_id, fetched_at = fetched
        if self.sliding:
            cursor.execute('DELETE FROM %s WHERE "Id" = ? AND "FetchedAt" = ?' % self.table("JobQueue"),
                           row_id, fetched_at)
            return
        cursor.execute('DELETE FROM %s WHERE "Id" = ?' % self.table("JobQueue"), row_id)
        with self.lock:
            self.held.pop(row_id, None)

    def release(self, workers):
        """The connections of these 1.7.31 workers dropped: their transactions roll back, their rows are back."""
        with self.lock:
            for row_id in [row_id for row_id, worker in self.held.items() if worker in workers]:
                del self.held[row_id]


def method_of(invocation):
    """The method name of a job's InvocationData, in the long layout Generate uses or level 170's short one."""
    try:
        data = json.loads(invocation)
    except (TypeError, ValueError):
        return None
    return data.get("Method") or data.get("m")


def arguments_of(arguments):
    """A job's Arguments column: a JSON array of JSON-encoded values."""
    try:
        return [None if value is None else json.loads(value) for value in json.loads(arguments or "[]")]
    except (TypeError, ValueError):
        return []


class _Worker:
    """One of the Hangfire server's workers, while it fetches or performs jobs (Hangfire.Core Server/Worker.cs)."""

    def __init__(self):
        self.worker_id = "%s" % uuid.uuid4()
        self.gone = threading.Event()
        self.thread = None
        self.fetched = None
        self.keep_alive_due = 0.0


class GenerateReplica:
    """Generate's background app over one database: MigrationService, AppRepository, FactReportRepository and
    App.Migrate_Data, run as jobs by a Hangfire server of the line's version.

    ``version``: a version line of VERSION_LINES or a Generate version ("13.1");
    None: the database's (GenerateConfigurations Database/DatabaseVersion), read
    when the replica first starts, the newest line when it has none.
    ``clock_offset``: seconds the app server's clock is ahead of this machine's
    (the dates the C# and Hangfire write from DateTime.UtcNow carry it).

    Knobs, plain attributes changeable at any time: ``pipeline_seconds`` (one
    App.Migrate_Data), ``report_job_seconds`` (one ExecuteReportMigrationByYear...
    job), ``fail`` and ``hang`` (sets of "pipeline" and "report_job"), ``years``
    (the report migration's selected school years) and ``category_sets``
    ((level, category set code) of every report and year), ``worker_count``.

    Observations: ``pipeline_runs`` (one dict per App.Migrate_Data that picked a
    pending row: its type, the locked active reports it processed, its outcome)
    and ``server_id`` (None while the app is down).
    """

    def __init__(self, connection_string, schema="App", hangfire_schema="HangFire", version=None, clock_offset=0.0):
        self.database = Database(connection_string)
        self.schema = schema
        self.hangfire_schema = hangfire_schema
        self.version = version_line(version)
        self.clock_offset = clock_offset
        self.pipeline_seconds = 1.0
        self.report_job_seconds = 1.0
        # Seconds a cancelled App.Migrate_Data takes to give up after command.Cancel(): SQL Server answers the
        # attention once the statement reaches a point where it can stop, which a long task may take a while to.
        self.cancel_seconds = 0.0
        self.fail = set()
        self.hang = set()
        self.years = ["2025"]
        self.category_sets = [("sea", "CSA")]
        self.worker_count = WORKER_COUNT
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.pipeline_runs = []
        self.server_id = None
        self._storage = None
        self._workers = set()
        self._lock = threading.Lock()
        # Held by a worker's unit of work, so that nothing is written after crash() or stop() returned.
        self._gate = threading.RLock()
        self._beating = threading.Lock()
        self._beats = 0

    # --- the public API -----------------------------------------------------------------------------------------

    @property
    def interval(self):
        """Seconds between two heartbeats (BackgroundJobServerOptions.HeartbeatInterval)."""
        return self.heartbeat_seconds

    @property
    def hangfire_version(self):
        """The Hangfire version of the line."""
        return HANGFIRE_VERSIONS[self._line()]

    def migrate_data(self, type_code):
        """MigrationService.MigrateData (generate.infrastructure/Services/MigrationService.cs): for ``ods`` and
        ``rds`` the SQL-based migration job; for ``report`` first one ExecuteReportMigrationByYearLevelAndCategorySet
        job per locked new-style report (IsLocked and not UseLegacyReportMigration, active or not), selected year
        and category set, each followed by its MarkReportAsComplete continuation, then the SQL-based migration.
        The code is compared case-sensitively: any other value does nothing."""
        if type_code not in ("ods", "rds", "report"):
            return
        self._ready()
        with self._unit() as cursor:
            if type_code == "report":
                rows = cursor.execute('SELECT "ReportCode" FROM %s WHERE "IsLocked" = 1 AND '
                                      '"UseLegacyReportMigration" = 0 ORDER BY "GenerateReportId"'
                                      % self._table("GenerateReports")).fetchall()
                for (report_code,) in rows:
                    for year in list(self.years):
                        # CreateReportByYear: AppRepository.GetCategorySets(reportCode, reportYear, null).
                        for level, category_set in list(self.category_sets):
                            self._trigger_report_migration(cursor, report_code, year, level, category_set)
            self._trigger_sql_based_migration(cursor, type_code)

    def cancel_migration(self, type_code):
        """MigrationService.CancelMigration: log "Canceling migration", delete every Processing job of any type
        (ProcessingJobs(0, 1) in a loop; Enqueued and Awaiting jobs stay, but ContinuationsSupport deletes the
        Awaiting continuations of a deleted job), then CompleteMigration(code, "error"), and return: the
        cancelled worker finds out on its own, later."""
        storage = self._ready()
        with self._unit() as cursor:
            self._log_history(cursor, type_code, "Canceling migration")
            while True:
                processing = storage.processing_jobs(cursor)
                if not processing:
                    break
                # BackgroundJob.Delete: ChangeState(new DeletedState()) from whatever state.
                storage.change_state(cursor, processing[0][0], "Deleted")
            self._complete_migration(cursor, type_code, "error")

    def start(self):
        """Start the background app: its Hangfire server announces itself (a new server id), removes the servers
        that timed out (ServerWatchdog runs at once), and its workers fetch at once; then it beats."""
        storage = self._ready()
        with self._beating:
            if self.server_id is not None:
                return self
            server_id = "generate-background:%d:%s" % (os.getpid(), uuid.uuid4())
            with self._unit() as cursor:
                storage.heartbeat(cursor, server_id, announce=True)
                storage.remove_timed_out_servers(cursor)
                waiting = storage.fetchable(cursor)
            self.server_id = server_id
            self._beats = 0
            storage.live.add(self)
        BEATS.add(self)
        self._poke(waiting)
        return self

    def crash(self):
        """The background process dies: no more heartbeats, its workers vanish without writing, their jobs stay
        Processing on a server that no longer beats (a 1.7 worker's queue row is visible again at once)."""
        return self._halt(graceful=False)

    def stop(self):
        """Stop the background app: its Server row is removed; running work is abandoned without writing."""
        self._halt(graceful=True)

    def wait_idle(self, timeout=30):
        """Wait until no job is being performed and, while the app is up, none is waiting in the queue for it."""
        storage = self._ready()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = bool(self._workers)
                up = self.server_id is not None
            if not busy:
                if not up:
                    return
                with self._unit() as cursor:
                    waiting = storage.fetchable(cursor)
                if not waiting:
                    return
                self._poke(waiting)
            if time.monotonic() > deadline:
                raise TimeoutError("the Generate replica is still busy after %s s" % timeout)
            time.sleep(0.02)

    # --- the Hangfire server: heartbeats, watchdog, workers (Hangfire.Core Server/*) -------------------------------

    def beat_while_running(self):
        """One heartbeat (ServerHeartbeatProcess), every tenth one the watchdog (ServerWatchdog: every
        ServerCheckInterval), and a look at the queue, unless stopped meanwhile; a failed beat waits for the next."""
        with self._beating:
            if self.server_id is None:
                return
            self._beats += 1
            waiting = 0
            try:
                with self._unit() as cursor:
                    storage = self._hangfire()
                    storage.heartbeat(cursor, self.server_id)
                    if self._beats * self.heartbeat_seconds >= SERVER_CHECK_SECONDS:
                        self._beats = 0
                        storage.remove_timed_out_servers(cursor)
                    waiting = storage.fetchable(cursor)
            except pyodbc.Error:
                return
        if waiting:
            self._poke(waiting)

    def _halt(self, graceful):
        with self._beating:
            server_id, self.server_id = self.server_id, None
        if server_id is None:
            return False
        BEATS.remove(self)
        with self._gate:
            with self._lock:
                workers = set(self._workers)
            for worker in workers:
                worker.gone.set()
        storage = self._hangfire()
        storage.live.discard(self)
        storage.release(workers)
        if graceful:
            try:
                with self._unit() as cursor:
                    storage.remove_server(cursor, server_id)
            except pyodbc.Error:
                pass
        elif not storage.sliding:
            self._signal()
        for worker in workers:
            if worker.thread is not threading.current_thread():
                worker.thread.join(10)
        return True

    def _signal(self):
        """Wake the workers of every live replica of this database (SqlServerJobQueue.NewItemInQueueEvent)."""
        for replica in list(self._hangfire().live):
            replica._poke()  # pylint: disable=protected-access

    def _poke(self, count=1):
        """Start up to ``count`` workers, within the server's worker count."""
        with self._lock:
            server_id = self.server_id
            for _number in range(count):
                if server_id is None or len(self._workers) >= self.worker_count:
                    return
                worker = _Worker()
                worker.thread = threading.Thread(target=self._work, args=(worker, server_id),
                                                 name="generate-replica-worker", daemon=True)
                self._workers.add(worker)
                worker.thread.start()

    def _work(self, worker, server_id):
        """Worker.Execute in a loop: fetch a job, set it Processing, perform it, set its outcome; end when the
        queue is empty (a new enqueue starts a worker again). An error outside the job (a state change that
        failed) requeues it, as Worker.Execute's catch does, and ends the worker; the next look at the queue takes
        the job again."""
        try:
            while not worker.gone.is_set():
                with self._unit(worker) as cursor:
                    fetched = self._hangfire().fetch(cursor, worker)
                if fetched is None:
                    return
                try:
                    self._process(worker, server_id, fetched)
                except _Vanished:
                    raise
                except Exception:  # pylint: disable=broad-except
                    self._requeue(worker)
                    return
        except (_Vanished, pyodbc.Error):
            return
        finally:
            with self._lock:
                self._workers.discard(worker)

    def _requeue(self, worker):
        """IFetchedJob.Requeue: 1.7.31 rolls its transaction back (the row is free again), 1.8.23 sets the row's
        FetchedAt back to NULL (SqlServerTimeoutJob.Requeue)."""
        storage = self._hangfire()
        if not storage.sliding:
            storage.release({worker})
            return
        try:
            with self._unit(worker) as cursor:
                storage.requeue(cursor, worker.fetched)
        except (_Vanished, pyodbc.Error):
            pass

    def _process(self, worker, server_id, fetched):
        storage = self._hangfire()
        worker.fetched = fetched
        worker.keep_alive_due = time.monotonic() + KEEP_ALIVE_SECONDS
        job_id = fetched[1]
        started = storage.now()
        with self._unit(worker) as cursor:
            applied = storage.change_state(cursor, job_id, "Processing", {
                "StartedAt": iso(started), "ServerId": server_id, "WorkerId": worker.worker_id},
                expected=("Enqueued", "Scheduled", "Processing"))
            row = cursor.execute('SELECT "InvocationData", "Arguments", "CreatedAt" FROM %s WHERE "Id" = ?'
                                 % storage.table("Job"), job_id).fetchone()
            if applied is None or row is None:
                # A job in a wrong state is forgotten: removed from the queue.
                storage.remove_from_queue(cursor, worker.fetched)
                return
        method, arguments = method_of(row[0]), arguments_of(row[1])
        enqueued = storage.enqueued
        begun = time.monotonic()
        failure = None
        try:
            self._perform(worker, server_id, job_id, method, arguments)
        except _Vanished:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # Worker.PerformJob: any exception of the job makes a FailedState candidate.
            failure = exc
        with self._unit(worker) as cursor:
            if failure is None:
                latency = int((started - row[2]).total_seconds() * 1000) if isinstance(row[2], datetime.datetime) else 0
                storage.change_state(cursor, job_id, "Succeeded", {
                    "SucceededAt": iso(storage.now()), "PerformanceDuration": "%d" % ((time.monotonic() - begun) * 1000),
                    "Latency": "%d" % latency}, expected=("Processing",))
            else:
                storage.change_state(cursor, job_id, "Failed", expected=("Processing",), failure=failure)
            storage.remove_from_queue(cursor, worker.fetched)
        if storage.enqueued != enqueued:
            # A continuation was enqueued: the other live servers of this database may take it.
            self._signal()

    def _perform(self, worker, server_id, job_id, method, arguments):
        """Run the job's method, as Generate's DI container resolves it (generate.background/Program.cs)."""
        if method == "ExecuteSqlBasedMigration":
            self._execute_sql_based_migration(worker, server_id, job_id, arguments[0])
        elif method == "ExecuteReportMigrationByYearLevelAndCategorySet":
            self._execute_report_migration(worker, *arguments[:4])
        elif method == "MarkReportAsComplete":
            with self._unit(worker) as cursor:
                self._mark_report_as_complete(cursor, arguments[0])
        elif method == "CompleteMigration":
            # HangfireHelper.CancelMigration enqueues it (MigrationService never calls that helper).
            with self._unit(worker) as cursor:
                self._complete_migration(cursor, arguments[0], arguments[1])
        # Other jobs (the metadata refresh, RDS per-year jobs) do nothing here: no table of theirs exists.

    def _aborted(self, worker, server_id, job_id):
        """ServerJobCancellationToken.ThrowIfCancellationRequested: the job counts as aborted once its state is no
        longer Processing on this server and worker (read from storage)."""
        with self._unit(worker) as cursor:
            name, data = self._hangfire().state_data(cursor, job_id)
        return (name is None or name.lower() != "processing" or ("%s" % data.get("ServerId")).lower() != server_id.lower()
                or ("%s" % data.get("WorkerId")).lower() != worker.worker_id.lower())

    def _sleep(self, worker, seconds):
        """Let the job work ``seconds``, keeping its 1.8 queue row alive; raise _Vanished when the process is gone."""
        end = time.monotonic() + seconds
        sliding = self._hangfire().sliding
        while True:
            now = time.monotonic()
            if sliding and worker.fetched is not None and now >= worker.keep_alive_due:
                with self._unit(worker) as cursor:
                    worker.fetched = self._hangfire().keep_alive(cursor, worker.fetched)
                worker.keep_alive_due = now + KEEP_ALIVE_SECONDS
            if now >= end:
                return
            until = min(end, worker.keep_alive_due) if sliding else end
            if worker.gone.wait(max(until - now, 0)):
                raise _Vanished()

    # --- Generate's C#: HangfireHelper, AppRepository, FactReportRepository ----------------------------------------

    def _trigger_sql_based_migration(self, cursor, type_code):
        """HangfireHelper.TriggerSqlBasedMigration: enqueue IAppRepository.ExecuteSqlBasedMigration(code, token)."""
        self._hangfire().create(cursor, "ExecuteSqlBasedMigration", [type_code, None])
        self._signal()

    def _trigger_report_migration(self, cursor, report_code, year, level, category_set):
        """HangfireHelper.TriggerReportMigrationByYearLevelAndCategorySet: enqueue the report job, then
        ContinueJobWith(it, IAppRepository.MarkReportAsComplete(reportCode))."""
        storage = self._hangfire()
        parent, _queued = storage.create(cursor, "ExecuteReportMigrationByYearLevelAndCategorySet",
                                         [report_code, year, level, category_set, None, None])
        self._signal()
        _child, queued = storage.create(cursor, "MarkReportAsComplete", [report_code], parent=parent)
        if queued:
            self._signal()

    def _execute_sql_based_migration(self, worker, server_id, job_id, type_code):
        """AppRepository.ExecuteSqlBasedMigration: StartMigration(code), then EXEC app.Migrate_Data while a watcher
        checks the job's cancellation token every second and cancels the command; on any exception LogException,
        CompleteMigration(code, "error"), and rethrow (the job fails, and is deleted)."""
        try:
            with self._unit(worker) as cursor:
                self._start_migration(cursor, type_code)
            self._migrate_data(worker, server_id, job_id)
        except _Vanished:
            raise
        except Exception as exc:
            with self._unit(worker) as cursor:
                self._log_exception(cursor, type_code, exc, "ExecuteSqlBasedMigration")
                self._complete_migration(cursor, type_code, "error")
            raise

    def _execute_report_migration(self, worker, report_code, year, level, category_set):
        """FactReportRepository.ExecuteReportMigrationByYearLevelAndCategorySet: "Report Started (...)", the facts,
        "Report Complete (...)" on type report. It takes no cancellation token: deleting its job does not stop it."""
        label = "%s/%s/%s/%s" % (report_code, year, level, category_set)
        with self._unit(worker) as cursor:
            count = cursor.execute('SELECT COUNT(*) FROM %s WHERE "ReportCode" = ?' % self._table("GenerateReports"),
                                   report_code).fetchone()[0]
            if count != 1:
                # _appDbContext.GenerateReports.Single(x => x.ReportCode == reportCode).
                raise InvalidOperationException("Sequence contains %s element" % (
                    "no" if count == 0 else "more than one"))
            self._log_history(cursor, "report", "Report Started (%s)" % label)
        self._sleep(worker, self.report_job_seconds)
        while "report_job" in self.hang:
            self._sleep(worker, 0.05)
        if "report_job" in self.fail:
            raise SqlError(DEADLOCK_MESSAGE)
        with self._unit(worker) as cursor:
            self._log_history(cursor, "report", "Report Complete (%s)" % label)

    def _start_migration(self, cursor, type_code):
        """AppRepository.StartMigration(code, false): the type's row pending with LastTriggerDate = UtcNow (app
        server's clock), then "<CODE> Migration Started"."""
        row = self._migration_row(cursor, type_code)
        pending = self._status_id(cursor, "pending")
        if row is not None:
            if pending is not None:
                cursor.execute('UPDATE %s SET "DataMigrationStatusId" = ? WHERE "DataMigrationId" = ?'
                               % self._table("DataMigrations"), pending, row["id"])
            cursor.execute('UPDATE %s SET "LastTriggerDate" = ? WHERE "DataMigrationId" = ?'
                           % self._table("DataMigrations"), self._app_now(), row["id"])
        self._log_history(cursor, type_code, "%s Migration Started" % type_code.upper())

    def _complete_migration(self, cursor, type_code, status_code):
        """AppRepository.CompleteMigration: never over an existing error ("<CODE> Migration Completed after
        Cancel/Error", then MarkReportsAsComplete); otherwise the status (and the duration from LastTriggerDate
        unless error), "<CODE> Migration Complete - successful" or "- either due to error or cancellation" and, on
        error, MarkReportsAsComplete."""
        row = self._migration_row(cursor, type_code)
        if row is None:
            return
        code = type_code.upper()
        if row["status"] == "error":
            self._log_history(cursor, type_code, "%s Migration Completed after Cancel/Error" % code)
            self._mark_reports_as_complete(cursor)
            return
        status_id = self._status_id(cursor, status_code)
        if status_id is None:
            # dataMigrationStatus.DataMigrationStatusId of no status.
            raise NullReferenceException("Object reference not set to an instance of an object.")
        sets, values = ['"DataMigrationStatusId" = ?'], [status_id]
        if status_code != "error":
            if row["trigger"] is None:
                # dataMigration.LastTriggerDate.Value of a NULL date.
                raise InvalidOperationException("Nullable object must have a value.")
            sets.append('"LastDurationInSeconds" = ?')
            values.append(int((self._app_now() - as_datetime(row["trigger"])).total_seconds()))
        if self._locked_reports_page(cursor):
            # The task ids of the first locked report's fact type: the replica's database has no task, so none.
            sets.append('"DataMigrationTaskList" = ?')
            values.append("")
        cursor.execute('UPDATE %s SET %s WHERE "DataMigrationId" = ?' % (self._table("DataMigrations"), ", ".join(sets)),
                       *(values + [row["id"]]))
        if status_code == "error":
            self._log_history(cursor, type_code, "%s Migration Complete - either due to error or cancellation" % code)
            self._mark_reports_as_complete(cursor)
        else:
            self._log_history(cursor, type_code, "%s Migration Complete - successful" % code)

    def _mark_reports_as_complete(self, cursor):
        """AppRepository.MarkReportsAsComplete: MarkReportAsComplete of each locked report among the first 50
        active ones (GetReports())."""
        for report_code in self._locked_reports_page(cursor):
            self._mark_report_as_complete(cursor, report_code)

    def _mark_report_as_complete(self, cursor, report_code):
        """AppRepository.MarkReportAsComplete: only while no ExecuteReportMigrationByYearLevelAndCategorySet job
        of any report is Processing (on any server), unlock the report, then CompleteReportMigrationIfReady:
        with no locked report left at all, CompleteMigration("report", "success")."""
        report_jobs = [job for job, method in self._hangfire().processing_jobs(cursor)
                       if method == "ExecuteReportMigrationByYearLevelAndCategorySet"]
        if report_jobs:
            return
        row = cursor.execute('SELECT "GenerateReportId" FROM %s WHERE "ReportCode" = ? ORDER BY "GenerateReportId"'
                             % self._table("GenerateReports"), report_code).fetchone()
        if row is not None:
            cursor.execute('UPDATE %s SET "IsLocked" = 0 WHERE "GenerateReportId" = ?'
                           % self._table("GenerateReports"), row[0])
        locked = cursor.execute('SELECT COUNT(*) FROM %s WHERE "IsLocked" = 1'
                                % self._table("GenerateReports")).fetchone()[0]
        if not locked:
            self._complete_migration(cursor, "report", "success")

    def _log_exception(self, cursor, type_code, exc, method):
        """AppRepository.LogException: "Error Occurred - " + message, then "Error Stack Trace = " + stack trace."""
        self._log_history(cursor, type_code, "Error Occurred - %s" % exc)
        self._log_history(cursor, type_code, "Error Stack Trace = %s" % STACK_TRACE.get(method, ""))

    def _log_history(self, cursor, type_code, message):
        """AppRepository.LogDataMigrationHistory: a history line dated UtcNow (the app server's clock), for a type
        found by its code; nothing for an unknown type."""
        type_id = self._type_id(cursor, type_code)
        if type_id is None:
            return
        cursor.execute('INSERT INTO %s ("DataMigrationTypeId", "DataMigrationHistoryDate", "DataMigrationHistoryMessage") '
                       "VALUES (?, ?, ?)" % self._table("DataMigrationHistories"), type_id, self._app_now(), message)

    # --- App.Migrate_Data ----------------------------------------------------------------------------------------

    def _migrate_data(self, worker, server_id, job_id):
        """EXEC App.Migrate_Data (generate.database/StoredProcedures/Create/App.Migrate_Data.StoredProcedure.sql:
        tag 12.0, unchanged through V13.3, for lines 12 and 13.3; tag 11.4 for line 11), while the C# watcher
        cancels the command once the job's token says it was aborted."""
        begun = time.monotonic()
        with self._unit(worker) as cursor:
            picked = self._pick_pending(cursor)
            if picked is None:
                # 'No migrations pending': return.
                return
            run = {"type": picked["code"], "reports": [], "outcome": None}
            self.pipeline_runs.append(run)
            for message in ("Shrink database log", "Delete old DataMigrationHistories"):
                self._sql_history(cursor, picked["type_id"], message)
            cursor.execute('DELETE FROM %s WHERE "DataMigrationHistoryDate" <= %s'
                           % (self._table("DataMigrationHistories"), self.database.local_now(-30 * 86400)))
            cursor.execute('UPDATE %s SET "DataMigrationStatusId" = ? WHERE "DataMigrationId" = ?'
                           % self._table("DataMigrations"), self._status_id(cursor, "processing"), picked["id"])
            if self._line() != "11":
                # From 12.0 every cursor of the pipeline reads the locked, active reports, whatever the type.
                run["reports"] = [row[0] for row in cursor.execute(
                    'SELECT "ReportCode" FROM %s WHERE "IsLocked" = 1 AND "IsActive" = 1 ORDER BY "ReportCode"'
                    % self._table("GenerateReports")).fetchall()]
        try:
            self._work_pipeline(worker, server_id, job_id, begun)
            self._finish_pipeline(worker, picked, run)
        except _Vanished:
            raise
        except Exception as exc:
            run["outcome"] = "cancelled" if "%s" % exc == CANCELLED_MESSAGE else "error"
            raise

    def _finish_pipeline(self, worker, picked, run):
        """The end of App.Migrate_Data: the legacy reports its report tasks built are unlocked; a report run with
        new-style reports still locked ends there; otherwise success with LastDurationInSeconds (DATEDIFF from
        LastTriggerDate to getutcdate()) and 'Migration Complete'."""
        with self._unit(worker) as cursor:
            self._unlock_legacy_reports(cursor, picked["code"], run["reports"])
            if picked["code"] == "report" and cursor.execute(
                    'SELECT COUNT(*) FROM %s WHERE "IsLocked" = 1 AND "UseLegacyReportMigration" = 0'
                    % self._table("GenerateReports")).fetchone()[0]:
                # Do not complete if new report migrations are still pending.
                run["outcome"] = "not complete"
                return
            trigger = cursor.execute('SELECT "LastTriggerDate", %s FROM %s WHERE "DataMigrationId" = ?' % (
                self.database.utc_now(), self._table("DataMigrations")), picked["id"]).fetchone()
            sets = '"DataMigrationStatusId" = ?, "LastDurationInSeconds" = ?'
            values = [self._status_id(cursor, "success"), date_diff_seconds(as_datetime(trigger[0]),
                                                                            as_datetime(trigger[1]))]
            if self._line() != "11":
                # The task list the cursors built: empty, as the replica's database has no task.
                sets += ', "DataMigrationTaskList" = ?'
                values.append("")
            cursor.execute('UPDATE %s SET %s WHERE "DataMigrationId" = ?' % (self._table("DataMigrations"), sets),
                           *(values + [picked["id"]]))
            self._sql_history(cursor, picked["type_id"], "Migration Complete")
            run["outcome"] = "success"

    def _work_pipeline(self, worker, server_id, job_id, begun):
        """The pipeline's tasks: ``pipeline_seconds`` of work (for as long as "pipeline" is in ``hang``), while the
        token watcher looks every second from the command's start; a "pipeline" fault raises the deadlock error."""
        tick = begun + TOKEN_CHECK_SECONDS
        end = time.monotonic() + self.pipeline_seconds
        while True:
            now = time.monotonic()
            if now >= tick:
                tick += TOKEN_CHECK_SECONDS
                if self._aborted(worker, server_id, job_id):
                    self._sleep(worker, self.cancel_seconds)
                    raise SqlError(CANCELLED_MESSAGE)
                continue
            hanging = "pipeline" in self.hang
            if now >= end and not hanging:
                break
            self._sleep(worker, min(tick, now + 0.05 if hanging else end) - now)
        if "pipeline" in self.fail:
            raise SqlError(DEADLOCK_MESSAGE)

    def _pick_pending(self, cursor):
        """The procedure's unordered SELECT @var = ... of the pending rows: SQL Server assigns every row in turn,
        so the last one read (in DataMigrationId order on a scan of the clustered key) wins."""
        rows = self._migrations(cursor, 's."DataMigrationStatusCode" = ?', "pending")
        return rows[-1] if rows else None

    def _unlock_legacy_reports(self, cursor, type_code, reports):
        """The report tasks' RDS.Create_ReportData (V13.3, and 11.0's) unlocks each locked legacy report it built
        but two. From 12.0 every run builds the locked active reports; in 11.x only a report run does."""
        if self._line() == "11":
            if type_code != "report":
                return
            reports = [row[0] for row in cursor.execute(
                'SELECT "ReportCode" FROM %s WHERE "IsLocked" = 1 AND "IsActive" = 1'
                % self._table("GenerateReports")).fetchall()]
        for report_code in reports:
            if report_code not in KEPT_LOCKED:
                cursor.execute('UPDATE %s SET "IsLocked" = 0 WHERE "ReportCode" = ? AND "IsLocked" = 1 AND '
                               '"UseLegacyReportMigration" = 1' % self._table("GenerateReports"), report_code)

    def _sql_history(self, cursor, type_id, message):
        """A history line the procedure inserts, dated getutcdate() (the database's clock)."""
        cursor.execute('INSERT INTO %s ("DataMigrationHistoryDate", "DataMigrationTypeId", "DataMigrationHistoryMessage") '
                       "VALUES (%s, ?, ?)" % (self._table("DataMigrationHistories"), self.database.utc_now()),
                       type_id, message)

    # --- helpers -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _unit(self, worker=None):
        """A cursor for one unit of work; a worker's only while its process lives (see crash())."""
        if worker is None:
            with self.database.cursor() as cursor:
                yield cursor
            return
        with self._gate:
            if worker.gone.is_set():
                raise _Vanished()
            with self.database.cursor() as cursor:
                yield cursor

    def _ready(self):
        """Resolve the version line and the database's dialect before any unit of work: a unit holds a
        connection, and opening a second one inside it could wait forever for a free slot."""
        if self._storage is None:
            line = self._line()
            if self.database.kind is None:
                with self.database.cursor():
                    pass
            self._storage = HangfireStorage(self.database, self.hangfire_schema, HANGFIRE_VERSIONS[line],
                                            self.clock_offset)
        return self._storage

    def _hangfire(self):
        """The Hangfire storage, once _ready() made it."""
        return self._storage

    def _line(self):
        """The version line, read from GenerateConfigurations (Database, DatabaseVersion) when none was given."""
        if self.version is None:
            with self.database.cursor() as cursor:
                row = cursor.execute(
                    'SELECT "GenerateConfigurationValue" FROM %s WHERE "GenerateConfigurationCategory" = ? AND '
                    '"GenerateConfigurationKey" = ?' % self._table("GenerateConfigurations"),
                    "Database", "DatabaseVersion").fetchone()
            try:
                self.version = version_line(row[0]) if row and row[0] else VERSION_LINES[-1]
            except ValueError:
                self.version = VERSION_LINES[-1]
        return self.version

    def _table(self, name):
        return '"%s"."%s"' % (self.schema, name)

    def _app_now(self):
        return app_utc_now(self.clock_offset)

    def _status_id(self, cursor, code):
        """A status id looked up by its code, as Generate does."""
        row = cursor.execute('SELECT "DataMigrationStatusId" FROM %s WHERE "DataMigrationStatusCode" = ?'
                             % self._table("DataMigrationStatuses"), code).fetchone()
        return row[0] if row else None

    def _type_id(self, cursor, code):
        row = cursor.execute('SELECT "DataMigrationTypeId" FROM %s WHERE "DataMigrationTypeCode" = ?'
                             % self._table("DataMigrationTypes"), code).fetchone()
        return row[0] if row else None

    def _migration_row(self, cursor, type_code):
        """The type's DataMigrations row (FirstOrDefault)."""
        rows = self._migrations(cursor, 't."DataMigrationTypeCode" = ?', type_code)
        return rows[0] if rows else None

    def _migrations(self, cursor, where, value):
        """DataMigrations rows with their type code and status code ("" for an unknown status id), by id."""
        rows = cursor.execute(
            'SELECT m."DataMigrationId", m."DataMigrationTypeId", t."DataMigrationTypeCode", s."DataMigrationStatusCode", '
            'm."LastTriggerDate" FROM %s m INNER JOIN %s t ON t."DataMigrationTypeId" = m."DataMigrationTypeId" '
            'LEFT JOIN %s s ON s."DataMigrationStatusId" = m."DataMigrationStatusId" WHERE %s ORDER BY m."DataMigrationId"'
            % (self._table("DataMigrations"), self._table("DataMigrationTypes"), self._table("DataMigrationStatuses"),
               where), value).fetchall()
        return [{"id": row[0], "type_id": row[1], "code": row[2], "status": row[3] or "", "trigger": row[4]}
                for row in rows]

    def _locked_reports_page(self, cursor):
        """GetReports().Where(r => r.IsLocked): the locked ones among the first 50 active reports by ReportCode."""
        rows = cursor.execute('SELECT "ReportCode", "IsLocked" FROM %s WHERE "IsActive" = 1 ORDER BY "ReportCode"'
                              % self._table("GenerateReports")).fetchall()
        return [row[0] for row in rows[:REPORT_PAGE] if int(row[1])]


class InvalidOperationException(Exception):
    """.NET's InvalidOperationException, as the C# copied throws it."""


class NullReferenceException(Exception):
    """.NET's NullReferenceException, as the C# copied throws it."""


def as_datetime(value):
    """A date read back from the database: SQLite gives the text of an expression, the others a datetime."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    text = ("%s" % value).replace("T", " ")
    for layout in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, layout)
        except ValueError:
            continue
    raise ValueError("not a date: %r" % (value,))


def date_diff_seconds(start, end):
    """T-SQL DATEDIFF(second, start, end): the second boundaries crossed."""
    if start is None or end is None:
        return None
    return int((end.replace(microsecond=0) - start.replace(microsecond=0)).total_seconds())
