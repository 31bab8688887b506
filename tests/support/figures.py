"""Figures the reliability tests measure (counts, seconds), and the table docs/reliability.md shows.

Each test appends what it measured to tests/output/reliability.jsonl, tagged
with the id of the pytest run (shared by pytest-xdist workers).  The table is
built from the newest run that recorded each figure, so rerunning one test
file refreshes its own figures only.

    python tests/support/figures.py        # print the table of the latest figures
    python tests/support/figures.py RUN    # ... of the run whose id starts with RUN
    python tests/support/figures.py --runs # list the runs recorded, newest last
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIGURES_FILE = os.path.join(ROOT, "tests", "output", "reliability.jsonl")
# Workers of one pytest-xdist run share PYTEST_XDIST_TESTRUNUID; a plain run is one process.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex

# The order and wording of the table; a figure is a count (summed over its
# tests) or seconds (reported as the smallest and largest value seen).
FIGURES = [
    ("bad inputs tried", "count"),
    ("bad inputs that failed cleanly", "count"),
    ("suspicious data handled as documented", "count"),
    ("faults injected", "count"),
    ("faults survived (one-line failure, database unchanged)", "count"),
    ("sessions left open after a fault", "count"),
    ("seconds to fail on a lock with query_timeout 2", "seconds"),
    ("seconds to fail on a silent host with connect_timeout 2", "seconds"),
    ("seconds to fail on a silent host with connect_timeout 5", "seconds"),
    ("seconds to fail on a closed port", "seconds"),
    ("seconds to fail on a stopped server", "seconds"),
    ("seconds to fail on a closed port, ODBC Driver 18, connect_timeout 3", "seconds"),
    ("concurrent reset runs", "count"),
    ("concurrent runs reporting changed", "count"),
    ("concurrent runs that lost the compare-and-set and planned again", "count"),
    ("audit lines written by the concurrent runs", "count"),
    ("seconds for 10 concurrent runs", "seconds"),
    ("steps clobbered after a change between read and write", "count"),
    ("least-privilege cases proven on PostgreSQL", "count"),
    ("passwords with special characters that authenticated", "count"),
    ("connection strings accepted by ODBC Driver 18", "count"),
    ("module runs scanned for secrets at -vvvv", "count"),
    ("secret-scan hits", "count"),
]
UNITS = dict(FIGURES)


def record(name, value, test=None):
    """Append one measured value of the figure ``name`` to the figures file."""
    if name not in UNITS:
        raise KeyError("unknown figure %r: add it to FIGURES" % name)
    os.makedirs(os.path.dirname(FIGURES_FILE), exist_ok=True)
    line = json.dumps({"run": RUN_ID, "at": time.time(), "figure": name, "value": value, "test": test})
    # One short write per line with O_APPEND: lines of parallel workers never interleave.
    descriptor = os.open(FIGURES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(text) for text in handle if text.strip()]


def runs(path=FIGURES_FILE):
    """``[(run id, figures recorded)]``, oldest first."""
    counts = {}
    for line in _lines(path):
        counts[line["run"]] = counts.get(line["run"], 0) + 1
    return list(counts.items())


def latest(path=FIGURES_FILE, run=None):
    """``{figure: summary}`` from the newest run that recorded each figure, or from the run starting with ``run``."""
    by_figure = {}
    for line in _lines(path):
        if run is None or line["run"].startswith(run):
            by_figure.setdefault(line["figure"], []).append(line)
    summary = {}
    for name, lines in by_figure.items():
        newest_run = max(lines, key=lambda line: line["at"])["run"]
        values = [line["value"] for line in lines if line["run"] == newest_run]
        if UNITS.get(name) == "seconds":
            low, high = min(values), max(values)
            summary[name] = "%.1f" % high if round(low, 1) == round(high, 1) else "%.1f - %.1f" % (low, high)
        else:
            summary[name] = "%d" % sum(values)
    return summary


def table(path=FIGURES_FILE, run=None):
    """The figures as a Markdown table, in the order of FIGURES."""
    summary = latest(path, run)
    rows = ["| figure | value |", "|---|---|"]
    for name, _unit in FIGURES:
        rows.append("| %s | %s |" % (name, summary.get(name, "not measured")))
    return "\n".join(rows)


if __name__ == "__main__":
    if not os.path.exists(FIGURES_FILE):
        sys.exit("no figures yet: run ./dev test tests/integration first")
    if sys.argv[1:] == ["--runs"]:
        for run_id, count in runs():
            print(run_id, count)
    else:
        print(table(run=sys.argv[1] if len(sys.argv) > 1 else None))
