"""The benchmark's fleet sizes: how many runs each gets."""

from __future__ import annotations

from bench.fleet_scaling import rounds_at


def test_a_smaller_fleet_runs_as_many_times_as_take_about_as_long_as_the_largest_at_most_three_times_as_many():
    sizes = [10, 100, 200, 300, 1000]
    assert [rounds_at(size, sizes, 3) for size in sizes] == [9, 9, 9, 9, 3]
    assert [rounds_at(size, [100, 200, 400], 3) for size in (100, 200, 400)] == [9, 6, 3]
    assert [rounds_at(size, [600, 1000], 5) for size in (600, 1000)] == [8, 5]


def test_a_single_size_or_the_largest_runs_the_rounds_asked():
    assert rounds_at(400, [400], 3) == 3
    assert rounds_at(1000, [10, 1000], 7) == 7
