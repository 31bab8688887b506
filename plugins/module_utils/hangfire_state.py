# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hangfire's state as the plan reads it: its servers, Generate's unfinished migration jobs, and UTC dates.

Pure: it decodes Hangfire's columns (InvocationData, Arguments, the state's Data) and tells each job running,
queued or orphaned, against the database's clock; migration_plan.py decides from that.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

# Hangfire's ServerTimeout: a server silent this long is dead.
HANGFIRE_SERVER_TIMEOUT = 300

JOB_RUNNING = "running"
JOB_QUEUED = "queued"
JOB_ORPHANED = "orphaned"
PROCESSING_JOB_STATE = "Processing"
# Generate's migration jobs and the migration type each belongs to; None: the type code is the
# job's first argument (generate.infrastructure/Helpers/HangfireHelper.cs).
MIGRATION_JOB_TYPES = {
    "ExecuteSqlBasedMigration": None,
    "CompleteMigration": None,
    "ExecuteReportMigrationByYearLevelAndCategorySet": "report",
    "MarkReportAsComplete": "report",
    "Migrate_FactStudentCounts": "rds",
}


def to_utc(value):
    """Return a naive UTC datetime from a driver value (naive UTC, aware, or ISO text), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if not text:
            return None
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    return None


def iso_utc(value):
    """Format a naive UTC datetime as ISO 8601 with a Z, or None."""
    if value is None:
        return None
    return value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"


def _json(text):
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def job_arguments(invocation, arguments_text):
    """A job's arguments, decoded: from the Arguments column, else from InvocationData (both layouts).

    Hangfire stores each argument JSON-encoded inside a JSON array (``["\\"report\\"",null]``).
    """
    values = _json(arguments_text)
    if not isinstance(values, list) or not values:
        values = invocation.get("Arguments", invocation.get("a"))
        if isinstance(values, str):
            values = _json(values)
    if not isinstance(values, list):
        return []
    decoded = []
    for value in values:
        inner = _json(value) if isinstance(value, str) else None
        decoded.append(value if inner is None else inner)
    return decoded


class Server:
    """A Hangfire server (a running background app) and its last heartbeat."""

    def __init__(self, server_id, last_heartbeat):
        self.id = server_id
        self.last_heartbeat = to_utc(last_heartbeat)


class Job:
    """One of Generate's unfinished migration jobs, as Hangfire stores it."""

    def __init__(self, job_id, method, type_code, state, since, server_id, arguments=()):
        self.id = job_id
        self.method = method
        self.type_code = type_code
        self.state = state
        self.since = to_utc(since)
        self.server_id = server_id
        self.arguments = list(arguments)

    @classmethod
    def parse(cls, job_id, state, invocation_data, arguments, since, state_data):
        """The job from Hangfire's columns, or None when it is not one of Generate's migration jobs.

        Reads InvocationData with the long keys (Type, Method, Arguments) that Generate's
        compatibility level writes, and the short ones (t, m, a) of level 170.
        """
        invocation = _json(invocation_data)
        if not isinstance(invocation, dict):
            return None
        method = invocation.get("Method", invocation.get("m"))
        if method not in MIGRATION_JOB_TYPES:
            return None
        type_code = MIGRATION_JOB_TYPES[method]
        arguments = job_arguments(invocation, arguments)
        if type_code is None:
            type_code = "%s" % arguments[0] if arguments and arguments[0] is not None else None
        data = _json(state_data)
        server_id = data.get("ServerId") if isinstance(data, dict) and state == PROCESSING_JOB_STATE else None
        number = "%s" % job_id
        return cls(int(number) if number.isdigit() else number, method, type_code, state, since, server_id,
                   arguments)


class Hangfire:
    """What Hangfire's tables hold: its servers and Generate's unfinished migration jobs."""

    def __init__(self, servers, jobs):
        self.servers = servers
        self.jobs = jobs


class JobView:
    """A job as the plan sees it: running, queued or orphaned, and hung when running too long."""

    def __init__(self, job, status, age_seconds, hung):
        self.job = job
        self.status = status
        self.age_seconds = age_seconds
        self.hung = hung

    def belongs_to(self, step):
        """Whether the job runs the step's migration type (codes compared without regard to case)."""
        return (self.job.type_code or "").lower() == (step.type_code or "").lower() and step.type_code is not None

    def describe(self):
        """The job in a few words: id, method, type, state and since when."""
        return "job %s %s (%s) is %s (%s) since %s" % (
            self.job.id, self.job.method, self.job.type_code or "unknown type", self.status, self.job.state,
            iso_utc(self.job.since) or "an unknown time")


def age_of(date, now):
    """Whole seconds from ``date`` to ``now``, or None."""
    return None if date is None else int((now - date).total_seconds())


def live_servers(hangfire, now, server_timeout):
    """Ids of the servers that beat within ``server_timeout`` (a heartbeat in the future counts as alive)."""
    return set(server.id for server in hangfire.servers
               if server.last_heartbeat is not None and age_of(server.last_heartbeat, now) <= server_timeout)


def classify_jobs(hangfire, now, server_timeout, stuck_after):
    """Each job as running (Processing on a live server), queued or orphaned, as Hangfire will treat it.

    With a live server, a Processing job of a dead server is fetched again (Hangfire 1.7 as soon as
    the dead worker's connection dropped, 1.8 after its 5-minute invisibility timeout), and an
    Enqueued, Awaiting or just created (no state yet) job waits its turn: queued.  With no live
    server, every unfinished job waits for a background app to start, whatever its state: orphaned.
    ``now`` is the database's clock, against which Hangfire 1.8 also writes its heartbeats.
    """
    alive = live_servers(hangfire, now, server_timeout)
    views = []
    for job in hangfire.jobs:
        if not alive:
            status = JOB_ORPHANED
        elif job.state == PROCESSING_JOB_STATE and job.server_id in alive:
            status = JOB_RUNNING
        else:
            status = JOB_QUEUED
        age = age_of(job.since, now)
        hung = status == JOB_RUNNING and stuck_after > 0 and age is not None and age > stuck_after
        views.append(JobView(job, status, age, hung))
    return views
