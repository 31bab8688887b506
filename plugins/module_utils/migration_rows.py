# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows of the two reads, decoded: the steps (a Snapshot) and the state around them (an Observation).

Pure: migration_tables fetches the rows, this file turns them into the objects
that migration_plan decides on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state, migration_plan

_EPOCH = datetime.datetime(1900, 1, 1)


class RunFailed(Exception):
    """The run stops here; the text is the one-line message for the user."""


class Snapshot:
    """What the read of the steps returned: every step, the status ids, Generate's version and metadata status."""

    def __init__(self, steps, status_ids, database_version, metadata_status):
        self.steps = steps
        self.status_ids = status_ids
        self.database_version = database_version
        self.metadata_status = metadata_status


class Observation:
    """What the state read returned: Hangfire's state, history lines, locked reports, steps for the guard."""

    def __init__(self):
        # The database's UTC clock, read in the same SELECT: every age is taken against it.
        self.now = None
        self.hangfire = None
        self.hangfire_unavailable = None
        self.history = []
        self.locked_reports = None
        # The locked reports that Generate migrates the old way (UseLegacyReportMigration): nothing unlocks them.
        self.legacy_reports = []
        self.steps = []
        self.warnings = []


def number(value):
    """An integer column that a driver may hand over as text (SQLite in a UNION), or None."""
    if value is None or isinstance(value, int):
        return value
    text = ("%s" % value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def snapshot(rows, schema):
    """The Snapshot of the steps read's rows (lower-case column names); raises RunFailed when they cannot be
    Generate's."""
    status_rows = []
    steps = []
    version = metadata = None
    for row in rows:
        version = version or row.get("databaseversion")
        metadata = metadata or row.get("metadatastatus")
        if row.get("statusrowid") is not None:
            status_rows.append((row["statusrowid"], row.get("statusrowcode")))
        if row.get("datamigrationid") is None:
            continue
        steps.append(migration_plan.Step(
            step_id=row["datamigrationid"],
            type_id=row.get("datamigrationtypeid"),
            status_id=row.get("datamigrationstatusid"),
            type_code=row.get("typecode"),
            type_name=row.get("typename"),
            status_name=row.get("statusrowname"),
            last_trigger_date=row.get("lasttriggerdate"),
            last_duration_seconds=row.get("lastdurationinseconds"),
            user_name=row.get("username"),
        ))
    steps.sort(key=lambda step: step.id)
    try:
        status_ids = migration_plan.resolve_status_ids(status_rows)
    except migration_plan.PlanError as exc:
        raise RunFailed("%s.%s" % (schema, exc))
    if not steps:
        # Generate creates one row per migration type at install: none means a wrong
        # database or schema, or a damaged install, never that all is well.
        raise RunFailed("%s.DataMigrations has no rows: Generate creates one per migration type at install; "
                        "check database and schema, or restore the rows" % schema)
    return Snapshot(steps, status_ids, version, metadata)


def collect(rows, parts, observation):
    """Add the state read's rows to ``observation``; parts says which optional parts the read had."""
    if parts["hangfire"]:
        observation.hangfire = hangfire_state.Hangfire([], [])
    if parts["locked_reports"]:
        observation.locked_reports = []
    for row in rows:
        kind = row["kind"]
        if kind == "step":
            observation.steps.append((number(row["id"]), number(row["number"]), row["date"], number(row["detail"])))
        elif kind == "server":
            observation.hangfire.servers.append(hangfire_state.Server(row["id"], row["date"]))
        elif kind == "job":
            job = hangfire_state.Job.parse(row["id"], row["name"], row["detail"], row["arguments"], row["date"],
                                           row["statedata"])
            if job is not None:
                observation.hangfire.jobs.append(job)
        elif kind == "history":
            observation.history.append((number(row["number"]), hangfire_state.to_utc(row["date"]), row["detail"],
                                        number(row["id"])))
        elif kind == "locked_report":
            observation.locked_reports.append(row["id"])
            if row["number"] is not None and number(row["number"]) != 0:
                observation.legacy_reports.append(row["id"])
        elif kind == "clock":
            observation.now = hangfire_state.to_utc(row["date"])
    if observation.now is None:
        raise RunFailed("the database's clock could not be read: every age is taken against it")
    # Newest first, lines of one instant by their id (the read orders them by kind and date only).
    observation.history.sort(key=lambda line: (line[1] or _EPOCH, line[3] if isinstance(line[3], int) else 0),
                             reverse=True)
    if observation.hangfire is not None:
        observation.hangfire.jobs.sort(key=lambda job: "%20s" % job.id)
