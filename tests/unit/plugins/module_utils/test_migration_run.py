"""The pure parts of a re-run: the time allowed, the progress line's clock, the options refused, the run's lines."""

from __future__ import annotations

import datetime
import time
import types

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import migration_run as mr
from ansible_collections.ceds.generate.plugins.module_utils import migration_tables as mt
from ansible_collections.ceds.generate.plugins.module_utils.migration_rows import Observation
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import OptionsError


@pytest.mark.parametrize("last_duration, version, expected", [
    (None, "13.3", 1800),                  # never finished: at least 30 minutes
    (300, "13.3", 1800),                   # 3 x 300 s is less than 30 minutes
    (3600, "13.3", 10800),                 # 3 x the last run
    (20000, "13.1", 30000),                # at most Generate's own timeout before 13.2
    (200000, "13.2", 300000),              # and from 13.2 on
])
def test_the_time_allowed_is_three_runs_at_least_half_an_hour_at_most_generates_timeout(last_duration, version,
                                                                                        expected):
    assert mr.default_timeout(last_duration, version) == expected


def test_the_progress_clock_reads_like_a_stopwatch():
    assert [mr.elapsed_text(seconds) for seconds in (0, 59, 61, 3600, 30000)] == [
        "0:00:00", "0:00:59", "0:01:01", "1:00:00", "8:20:00"]


@pytest.mark.parametrize("changes, problem", [
    ({"poll": 0}, "poll must be between 1 and 3600 seconds, got 0"),
    ({"timeout": -1}, "timeout must be a positive number of seconds, got -1"),
    ({"http_timeout": 0}, "http_timeout must be between 1 and 600 seconds, got 0"),
    ({"types": []}, "types must name Generate's migration types in lower case (ods, rds, report), got []"),
    ({"types": ["ods; DROP"]}, "types must name Generate's migration types in lower case"),
    # Generate's MigrateData compares the code case-sensitively: "ODS" would answer 200 and do nothing.
    ({"types": ["ODS", "rds"]}, "in lower case (ods, rds, report), got ['ODS']: Generate's MigrateData compares"),
    ({"start_timeout": 0}, "start_timeout must be between 1 and 3600 seconds, got 0"),
    ({"reports": ["c" * 101]}, "reports must name at most 100 report codes"),
])
def test_options_that_cannot_work_are_refused_in_one_line(changes, problem):
    params = dict(poll=30, timeout=None, start_timeout=120, http_timeout=30, types=["ods"], reports=[])
    params.update(changes)
    with pytest.raises(OptionsError) as refused:
        mr.check_options(params)
    assert problem in "%s" % refused.value


class _Table:
    """A table whose one state read returns ``observation``."""

    def __init__(self, observation):
        self.observation = observation

    def read_state(self, **_parts):
        return self.observation

    def rollback(self):
        pass


def test_the_lines_this_collection_wrote_are_not_the_runs_even_in_the_instant_of_the_request():
    # The selection is locked, and its audit line written, at the database's now; the request's "since" is read
    # after it, and a clock of coarse steps (SQL Server's datetime rounds to 3 ms) can give both the same instant.
    since = datetime.datetime(2026, 12, 5, 3, 0, 0)
    observation = Observation()
    observation.now = since
    observation.history = [
        (3, since, "Report Complete (c002/2025/...)", 3),
        (3, since, "REPORT migration status reset from error to success by %s: night shift" % mt.RESET_BY, 2),
        (3, since, "REPORT selection locked (c002) by %s" % mr.SELECTED_BY, 1),
        (2, since, "RDS line of another type", 0),
    ]
    observation.steps = [(30, 2, None, None)]
    step = types.SimpleNamespace(id=30, type_id=3, label="report")
    run = mr.MigrationRun(_Table(observation), {}, False, request=None, say=None)
    poll = run.poll(step, since, {"processing": 2}, time.monotonic())
    assert (poll.status_code, poll.lines) == ("processing", ["Report Complete (c002/2025/...)"])
