"""Figures the reliability tests observe (counts, seconds), and docs/reliability.md, written from one run of them.

Each test appends what it observed to tests/output/reliability.jsonl, tagged
with the id of the pytest run (shared by pytest-xdist workers), the test, the
time and the machine's load.  A count is taken from the database, from what
the run printed and returned, or from the server's session list; seconds from
the clock.  A test records a figure before it asserts anything about it, so a
regression shows in the figure as well as in the test's failure.

    python tests/support/figures.py                 # print the table of the newest run that has every figure
    python tests/support/figures.py RUN             # ... of the run whose id starts with RUN
    python tests/support/figures.py --runs          # list the runs recorded, newest last
    python tests/support/figures.py --write docs/reliability.md [RUN]   # write the page from that run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIGURES_FILE = os.path.join(ROOT, "tests", "output", "reliability.jsonl")
PAGE = os.path.join(ROOT, "docs", "reliability.md")
# Workers of one pytest-xdist run share PYTEST_XDIST_TESTRUNUID; a plain run is one process.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
# A pytest run that a test starts (the release checks run integration tests again, on other
# controllers or on another database) inherits PYTEST_CURRENT_TEST from that test while it imports
# this module: its figures would count the same checks twice, under another run, so it records none.
NESTED = "PYTEST_CURRENT_TEST" in os.environ

# The order and wording of the table; a figure is a count (summed over its tests) or seconds
# (reported as the smallest and largest value seen).
FIGURES = [
    ("bad inputs tried (wrong options and data the module must refuse)", "count"),
    ("bad inputs that failed cleanly (failed, one line, no traceback, database unchanged)", "count"),
    ("suspicious data cases tried (data the module must work with)", "count"),
    ("suspicious data cases handled as documented (result, warning and final statuses)", "count"),
    ("faults injected", "count"),
    ("faults survived (one-line failure, no traceback, in the time allowed; after a reset struck midway: "
     "table unchanged, no session left, next run resets)", "count"),
    ("sessions of the module left on the server after a fault", "count"),
    ("seconds to fail on a lock with query_timeout 2", "seconds"),
    ("seconds to fail on a silent host with connect_timeout 2", "seconds"),
    ("seconds to fail on a silent host with connect_timeout 5", "seconds"),
    ("seconds to fail on a closed port", "seconds"),
    ("seconds to fail on a stopped server", "seconds"),
    ("concurrent reset runs", "count"),
    ("concurrent runs reporting changed", "count"),
    ("concurrent runs that lost the compare-and-set and planned again", "count"),
    ("audit lines written by the concurrent runs", "count"),
    ("seconds for the concurrent runs, from start to the last result", "seconds"),
    ("steps Generate changed between the module's read and its write", "count"),
    ("steps clobbered after a change between read and write (final status not the one Generate wrote)", "count"),
    ("least-privilege tasks run on PostgreSQL", "count"),
    ("least-privilege tasks whose outcome was the one docs/least-privilege.md gives", "count"),
    ("passwords with special characters tried", "count"),
    ("passwords with special characters that authenticated and read the steps", "count"),
    ("connection strings of the module given to ODBC Driver 18 (no SQL Server: a port that accepts and "
     "stays silent)", "count"),
    ("connection strings ODBC Driver 18 parsed and tried to connect with (its TDS pre-login reached the port, "
     "encryption as asked; failed at the login timeout, not at parsing)", "count"),
    ("seconds to fail on a silent host, ODBC Driver 18, connect_timeout 3", "seconds"),
    ("bad keyword values ODBC Driver 18 refused before connecting (counter-proof)", "count"),
    ("ansible-playbook runs scanned for secrets at -vvvv", "count"),
    ("task results in those runs", "count"),
    ("secret-scan hits", "count"),
]
UNITS = dict(FIGURES)


def record(name, value, test=None):
    """Append one observed value of the figure ``name`` to the figures file (not in a nested pytest run)."""
    if name not in UNITS:
        raise KeyError("unknown figure %r: add it to FIGURES" % name)
    if NESTED:
        return
    os.makedirs(os.path.dirname(FIGURES_FILE), exist_ok=True)
    line = json.dumps({"run": RUN_ID, "at": time.time(), "figure": name, "value": value, "test": test,
                       "load": os.getloadavg()[0], "cpus": os.cpu_count()})
    # One short write per line with O_APPEND: lines of parallel workers never interleave.
    descriptor = os.open(FIGURES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)


def lines(path=FIGURES_FILE):
    """Every line recorded, oldest first, each a dict: run, at, figure, value, test, load, cpus."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(text) for text in handle if text.strip()]


def runs(path=FIGURES_FILE):
    """``[(run id, lines recorded, figures missing)]``, oldest first."""
    seen = {}
    for line in lines(path):
        entry = seen.setdefault(line["run"], [0, set()])
        entry[0] += 1
        entry[1].add(line["figure"])
    return [(run_id, lines, [name for name, _unit in FIGURES if name not in names])
            for run_id, (lines, names) in seen.items()]


def choose_run(path=FIGURES_FILE, run=None):
    """The id of the run starting with ``run``, or of the newest run that recorded every figure."""
    recorded = runs(path)
    if run is not None:
        matching = [run_id for run_id, _lines, _missing in recorded if run_id.startswith(run)]
        if len(matching) != 1:
            raise LookupError("%d recorded runs start with %r" % (len(matching), run))
        return matching[0]
    complete = [run_id for run_id, _lines, missing in recorded if not missing]
    if not complete:
        raise LookupError("no run recorded every figure: run the integration tests in one pytest run "
                          "(./dev test tests/integration)")
    return complete[-1]


def seconds(value):
    """Seconds as the table shows them: tenths, or hundredths below one second (0.0 would read as nothing)."""
    return "%.2f" % value if value < 1 else "%.1f" % value


def summary(path=FIGURES_FILE, run=None):
    """``{figure: text}`` of one run (see ``choose_run``), and what the run's lines say of it."""
    run_id = choose_run(path, run)
    of_run = [line for line in lines(path) if line["run"] == run_id]
    values = {}
    for line in of_run:
        values.setdefault(line["figure"], []).append(line["value"])
    texts = {}
    for name, found in values.items():
        if UNITS.get(name) == "seconds":
            low, high = seconds(min(found)), seconds(max(found))
            texts[name] = high if low == high else "%s - %s" % (low, high)
        else:
            texts[name] = "%d" % sum(found)
    loads = [line["load"] for line in of_run if line.get("load") is not None]
    about = {
        "run": run_id,
        "started": min(line["at"] for line in of_run),
        "ended": max(line["at"] for line in of_run),
        "load": (min(loads), max(loads)) if loads else None,
        "cpus": max((line.get("cpus") or 0) for line in of_run) or None,
        "files": sorted(set((line.get("test") or "?").split("::")[0] for line in of_run)),
    }
    return texts, about


def table(path=FIGURES_FILE, run=None):
    """The figures of one run as a Markdown table, in the order of FIGURES."""
    texts, _about = summary(path, run)
    rows = ["| figure | value |", "|---|---|"]
    for name, _unit in FIGURES:
        rows.append("| %s | %s |" % (name, texts.get(name, "not measured")))
    return "\n".join(rows)


def measured_on(about):
    """The sentence that says which run the figures come from, when, and how busy the machine was."""
    started = datetime.datetime.fromtimestamp(about["started"], datetime.timezone.utc)
    minutes = (about["ended"] - about["started"]) / 60
    text = "From pytest run `%s` of %s UTC (figures recorded over %.0f minutes)" % (
        about["run"][:12], started.strftime("%Y-%m-%d %H:%M"), minutes)
    if about["cpus"]:
        text += ", on a machine with %d CPUs" % about["cpus"]
    if about["load"]:
        low, high = about["load"]
        text += (", whose 1-minute load average was between %.1f and %.1f while the figures were recorded"
                 % (low, high))
        if high > (about["cpus"] or 1):
            text += " (more runnable processes than CPUs: the seconds include waiting for a CPU)"
    return text + ". The figures come from %s." % ", ".join("`%s`" % name for name in about["files"])


def page(path=FIGURES_FILE, run=None):
    """docs/reliability.md: the text below with the table and the run's description of one run filled in."""
    _texts, about = summary(path, run)
    return PAGE_TEXT.format(table=table(path, about["run"]), measured_on=measured_on(about))


PAGE_TEXT = """\
<!-- Written by `python tests/support/figures.py --write docs/reliability.md` from a test run; edit the
text in tests/support/figures.py, not here. -->
# Reliability and security of `ceds.generate.data_migrations`

An operator should be able to schedule `state: reset` against production and
sleep. Whatever goes wrong, the module says what in one line, leaves the
database exactly as it was or exactly as intended, and never shows a
password. The integration tests below prove it, through the real Ansible
executor and real databases (PostgreSQL through psqlODBC, SQLite through the
SQLite ODBC driver, and the real Microsoft ODBC Driver 18 for SQL Server up
to its pre-login), and observe the figures in this page.

## Figures

{measured_on}

The seconds to fail are the task's duration as Ansible reports it: the
module's own time plus Ansible's work for the task. The seconds of the
concurrent runs are the test's clock, from starting the playbook to its last
result.

{table}

Every count is taken from what the run showed: the database read back over a
separate connection, the server's session list, the task results and what
`ansible-playbook` printed, or the bytes the driver sent. Each test records
its figures before it asserts anything about them, so a regression moves the
figure (a fault not survived is injected but not survived) and fails the
test.

## Rerunning them

The tests are part of `./dev test`. To run the integration tests (those that
record figures among them, and every one whose module runs are scanned for
secrets) in one pytest run, then write this page from that run:

```bash
./dev test tests/integration
.venv/bin/python tests/support/figures.py --write docs/reliability.md
```

Each test appends what it observed to `tests/output/reliability.jsonl`
(git-ignored), tagged with the id of its pytest run; `figures.py --write`
writes this page from the newest run that recorded every figure (`figures.py
--runs` lists the runs and what each lacks, `figures.py RUN` prints the table
of one run, `--write PAGE RUN` writes the page from it). A pytest run started
by a test (the release checks run integration tests again) records nothing.
The ODBC Driver 18 tests need the PyPI package `mssql-python-odbc`, which
ships the driver's Linux library; the tests register it in an `odbcinst.ini`
of their own (`ODBCSYSINI`), so nothing is installed system-wide.

## What the tests prove

### Bad input (`tests/integration/test_bad_input.py`)
Every option given a wrong type or an out-of-range value (`stuck_after`,
`history_lines`, both timeouts, `port` 0 and 70000, booleans, `state`),
unknown and misspelt options, a connection string together with separate
options, empty, blank or malformed connection strings, an unknown ODBC
driver, empty or control-character values, a server name smuggling
`;DATABASE=`, a missing or non-Generate database, and schema names with
quotes, semicolons, dots, brackets, comments or `App"; DROP TABLE x; --`
(a schema must match `[A-Za-z_][A-Za-z0-9_]*` and is never spliced into SQL
otherwise). Then the data: a status code missing or present twice, an empty
`DataMigrations`, more rows than any Generate has, the history table missing
while auditing, and a read-only login attempting a reset.

A case counts as tried when its task's result is in the run, and as failed
cleanly when that result failed, its message is one line, no traceback shows
in the output or the result, and the database, read back over a separate
connection, is unchanged. The test also asserts that the message names the
problem and, where there is one, the fix, and that no secret shows anywhere.
The option cases share one seeded database that a wrongly accepted reset
would have changed.

More data cases are not errors, and the test holds them to the documented
behaviour: a step of an unknown type is reset and named `type-<id>`; a NULL
status id is warned about and left alone; a trigger date in the future is
warned about and counts as fresh (so it defers the reset); a `processing`
step without a trigger date counts as stuck; status codes in capitals are
found.

### Faults (`tests/integration/test_faults.py`)
The test holds a row lock on a step, so the module's compare-and-set UPDATE
waits exactly there, with one step already updated in its transaction:

- **connection killed** (`pg_terminate_backend`) while waiting: "the
  connection was lost ...; nothing was committed; run again"; the database is
  unchanged and the next run resets all three steps.
- **lock held past `query_timeout`**: fails after the timeout with "timed out
  after 2 s: a lock or a long statement held it up; retry later or raise
  query_timeout"; nothing written; the next run resets.
- **server stopped** (`pg_ctl stop -m fast`) while the module waits: clean
  failure; a run while it is down fails at once ("cannot connect ... Check
  server, port and network"); after the restart the database is unchanged and
  the next run resets.
- **silent host** (accepts TCP, never answers) and **closed port**: the run
  fails within `connect_timeout` plus Ansible's own time.

A fault counts as injected at the moment the test injects it, whatever
follows; as survived when, afterwards, the run failed with a one-line message
saying what happened, no traceback in the output or the result, in the time
the fault allows (the timeout plus Ansible's own time) and, where the fault
struck a reset midway, the table read back is unchanged, the server's
session list (`pg_stat_activity`) holds no session of the module (no open
transaction, no idle connection) and the next run resets every failed step
with one audit line each.

An error nobody foresaw, raised inside the reset's transaction, is rolled
back and leaves no session either. When a connection is lost during the
commit itself, the module cannot know whether the reset was committed and
says so ("run state=status to see, or run again"); a second reset is
harmless, since it only touches steps that are still failed.

### Concurrency (`tests/integration/test_concurrency.py`)
- **Resets at once** (one playbook, one host per run, as many forks) against
  one database: the test holds the first step's row lock until every run's
  session waits on it, so every run has read the failed steps before any
  writes. Exactly one reports `changed: true`; the others lose the
  compare-and-set, read again (their queries show a second read), find
  nothing to do and report `changed: false`; one audit line per reset step;
  every step `success`.
- **Generate changes a step between the module's read and its write**: the
  test holds the step's lock, lets the module read and start updating, then
  sets the step to `processing` as Generate does and commits. The module's
  compare-and-set finds no row, rolls back the step it had already updated,
  reads again, sees a running step and defers with a warning. If Generate
  sets the step to `success` instead, the module plans again and resets only
  the other steps. A step counts as clobbered when its status, read back
  after the run, is not the one Generate wrote.

### Least privilege (`tests/integration/test_least_privilege.py`)
[least-privilege.md](least-privilege.md) lists the grants of a status login
and of a reset login, in T-SQL and for PostgreSQL. The test runs the
PostgreSQL blocks exactly as the document shows them, on databases whose
default rights were revoked: status works with SELECT only; reset works
with exactly the documented grants; reset with SELECT only fails with
"permission denied for table DataMigrations. Grant the login the rights in
docs/least-privilege.md" and changes nothing; a reset login without INSERT
fails on the audit lines, rolls its updates back, and works with
`audit: false`; a status login without the Hangfire grants falls back to the
age rule with a warning naming them. A task counts when its result and the
database read back afterwards are what the document says.

### Secrets and transport (`tests/integration/test_secrets.py`, every integration test)
- Passwords holding `;`, `{{`, `}}`, `}}}}`, `=`, `'`, `"`, spaces around,
  non-ASCII characters and a fake `;PWD=...;UID=...` authenticate for real
  against PostgreSQL roles, given as the `password` option, inside a
  connection string and through `GENERATE_DB_PASSWORD`; a password counts
  when its login read the seeded steps.
- Every module run of the integration tests happens at `-vvvv`
  (`tests/integration/conftest.py`), and everything the run printed and
  returned (results, warnings, `executed_queries`, invocation) is scanned for
  each password and connection string, raw and brace-quoted; a run counts as
  scanned at `-vvvv` when its output shows Ansible's `-vvvv` lines.
- With the real Microsoft ODBC Driver 18 for SQL Server and no SQL Server,
  the connection strings the module builds (encrypted with the certificate
  checked; unencrypted with the certificate trusted; an awkward login,
  database and password; a named instance with a port) are given to the
  driver against a port of the test that accepts connections and never
  answers. A string counts when the driver did not refuse it at parsing: the
  port received the driver's TDS pre-login packet, asking for encryption
  exactly when the task did, and the module then failed in about
  `connect_timeout` with "timed out after 3 s: check server, port and
  firewall, or raise connect_timeout". This proves the driver parsed every
  keyword and value and connected where the string said; no login was sent,
  so nothing past the pre-login (the login, database, password) reached a
  server. The counter-proof: the same driver refuses `Encrypt=maybe` at once,
  and nothing reaches the port.

## Things to know

- Pass passwords through the `password` option or the environment of
  `ansible-playbook` (as an AWX credential does), not through a task's
  `environment:` keyword. On a local connection the module runs in Ansible's
  worker and nothing is printed; but where it runs as a module process (with
  `become`, `async` or another connection), Ansible prints at `-vvv` the
  command that starts it, with every variable of `environment:` in it. The
  module cannot hide what Ansible prints before it starts.
- ansible-core 2.19 can be told to show Python stacks for every failure
  (`ANSIBLE_DISPLAY_TRACEBACK=always`); that setting is for debugging Ansible
  and shows the module's call stack too. At the default setting, at any
  verbosity, no traceback is shown.
- SQL Server itself is not part of the test suite (no server runs here):
  PostgreSQL stands in for it behind the same statements, and the ODBC Driver
  18 tests stop at the pre-login. The T-SQL grants follow SQL Server's
  documented syntax; run them on a test instance first.
"""


def main(argv=None):
    """The command line: print a run's table, list the runs, or write the page."""
    parser = argparse.ArgumentParser(description="The reliability figures of a test run, and docs/reliability.md.")
    parser.add_argument("run", nargs="?", help="the run whose id starts with this (default: the newest complete run)")
    parser.add_argument("--runs", action="store_true", help="list the runs recorded, newest last")
    parser.add_argument("--write", metavar="PAGE", help="write the page (docs/reliability.md) from the run")
    options = parser.parse_args(argv)
    if options.runs:
        for run_id, count, missing in runs():
            print("%s %d lines%s" % (run_id, count, "; lacks %d figures" % len(missing) if missing else ""))
        return 0
    try:
        if options.write:
            text = page(run=options.run)
            with open(options.write, "w", encoding="utf-8") as handle:
                handle.write(text)
            print("wrote %s from run %s" % (options.write, summary(run=options.run)[1]["run"]))
        else:
            print(table(run=options.run))
    except LookupError as exc:
        print("figures.py: %s" % exc.args[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
