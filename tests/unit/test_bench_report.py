"""The benchmark's report names the tasks whose time per environment grows with the fleet."""

from __future__ import annotations

from bench.report import growing_tasks


def row(size, **seconds_per_environment):
    """A fleet size's row: each task's worker seconds per environment at that size."""
    return {"size": size, "status_breakdown": [
        {"task": task, "per_environment": seconds} for task, seconds in seconds_per_environment.items()]}


def test_a_task_run_once_that_grows_with_the_fleet_is_named_as_one_every_environment_runs_is():
    base = row(100, check=0.870, summary=0.0035, show=0.0010)
    last = row(1000, check=0.876, summary=0.0310, show=0.0001)
    [_blank, text] = growing_tasks(base, last)
    assert "summary (31 ms per environment at 1000, 4 ms at 100)" in text
    assert "check (" not in text and "show (" not in text


def test_a_task_whose_time_per_environment_stays_is_not_named():
    assert growing_tasks(row(100, check=0.870, summary=0.0035), row(1000, check=0.900, summary=0.0040)) == []
    # Less than a millisecond more per environment is within the noise, however large the ratio.
    assert growing_tasks(row(100, show=0.0001), row(1000, show=0.0005)) == []
