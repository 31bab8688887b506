# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 4: the statements each run sends, counted on the server from PostgreSQL's statement log.

With ``log_statement = all`` on the benchmark's databases each line of the
server log is one message the server received; each is sorted into the
module's own statements, transaction control, and what the driver or the
tool adds (session set-up, catalog look-ups).
"""

from __future__ import annotations

import os
import re
import time

from bench.playbook_runs import DATA_MIGRATIONS, local_inventory, single_task_play
from bench.reset_vs_postgresql_query import psqlodbc_defaults, restore_failed, seed_update_play

LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]* \w+ \[(\d+)\] db=(\S*) app=(.*?) (\w+):  (.*)$")
CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DEALLOCATE)\b", re.I)
# The server writes its log asynchronously: time for the last lines of a run to land in the file.
LOG_SETTLE_SECONDS = 0.3


def server_log_entries(path, offset, database):
    """Statements the server logged for ``database`` since ``offset``: (kind, text) per message received."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    entries = []
    current = None
    for line in text.splitlines():
        match = LOG_ENTRY.match(line)
        if match:
            current = None
            if match.group(2) == database and match.group(4) == "LOG":
                statement = re.match(r"(?:statement|execute [^:]*): (.*)$", match.group(5), re.S)
                if statement:
                    current = [statement.group(1)]
                    entries.append(current)
        elif current is not None and line.startswith("\t"):
            current.append(line[1:])
    return [classify("\n".join(lines)) for lines in entries]


def classify(text):
    """Sort one message the server received into what sent it and why: (kind, text)."""
    parts = [part.strip() for part in text.split(";") if part.strip()] if text.count(";") and not re.search(
        r"'[^']*;[^']*'", text) else [text.strip()]
    work = [part for part in parts if not CONTROL.match(part)]
    if not work:
        return ("transaction control", text)
    first = work[0]
    if first.startswith("SET DateStyle") or "from pg_type where typname = 'lo'" in first:
        return ("driver: session set-up", text)
    if first.lower().startswith("select n.nspname, c.relname, a.attname"):
        return ("driver: column catalog", text)
    if first.lower().startswith("select version()") or first.lower().startswith("set "):
        return ("tool: session set-up", text)
    return ("statement: %s" % first.split(None, 1)[0].upper(), text)


def cases(cluster, healthy, failed):
    """(title, database, play) of each run counted."""
    def module(database, **args):
        return single_task_play("module", DATA_MIGRATIONS, args if "connection_string" in args
                                else database.module_args(**args))
    defaults = psqlodbc_defaults(cluster, failed)
    return [
        ("status, nothing failed", healthy, module(healthy, state="status")),
        ("status, a step failed", failed, module(failed, state="status")),
        ("reset of 3 steps", failed, module(failed, state="reset")),
        ("reset of 3 steps, psqlODBC defaults", failed,
         module(failed, state="reset", connection_string=defaults, schema="App")),
        ("status, a step failed, psqlODBC defaults", failed,
         module(failed, state="status", connection_string=defaults, schema="App")),
        ("seed UPDATE through postgresql_query", failed, seed_update_play(cluster, failed)),
    ]


def measure(ansible, cluster, healthy, failed):
    """Run each case once with the statement log on; return a row per case: messages, counts by kind, log."""
    inventory = local_inventory(ansible.workdir, "worker.ini", ansible.python)
    log = os.path.join(cluster.folder, "server.log")
    rows = []
    for database in (healthy, failed):
        cluster.psql('ALTER DATABASE "%s" SET log_statement = \'all\'' % database.name)
    try:
        for title, database, play in cases(cluster, healthy, failed):
            if database is failed:
                restore_failed(cluster, failed)
            offset = os.path.getsize(log)
            ansible.run(ansible.playbook("statements_count.yml", play), inventory)
            time.sleep(LOG_SETTLE_SECONDS)
            entries = server_log_entries(log, offset, database.name)
            counts = {}
            for kind, _text in entries:
                counts[kind] = counts.get(kind, 0) + 1
            rows.append({"case": title, "messages": len(entries), "counts": counts,
                         "log": [text.split("\n")[0][:110] for _kind, text in entries]})
    finally:
        for database in (healthy, failed):
            cluster.psql('ALTER DATABASE "%s" RESET log_statement' % database.name)
        restore_failed(cluster, failed)
    return {"rows": rows, "verdicts": verdicts(rows)}


def verdicts(rows):
    """Check the targets: a status is 2 statements (the steps; Hangfire's state, history and locked reports); a
    reset is those, the UPDATEs, the guard's SELECT, one INSERT and the COMMIT."""
    by_case = dict((row["case"], row) for row in rows)

    def statements(row):
        return dict((kind, n) for kind, n in row["counts"].items() if kind.startswith("statement"))

    reset_row = by_case["reset of 3 steps"]
    extra_control = [text for text in reset_row["log"]
                     if CONTROL.match(text) and not re.match(r"^(COMMIT|BEGIN;)", text)]
    return [
        ("status, nothing failed: 2 statements",
         statements(by_case["status, nothing failed"]) == {"statement: SELECT": 2}),
        ("status, a step failed: 2 statements (history in the second)",
         statements(by_case["status, a step failed"]) == {"statement: SELECT": 2}),
        ("reset: status statements + 3 UPDATE + 1 guard SELECT + 1 INSERT + COMMIT, nothing else",
         statements(reset_row) == {"statement: SELECT": 3, "statement: UPDATE": 3, "statement: INSERT": 1}
         and reset_row["counts"].get("transaction control") == 1 and not extra_control),
    ]
