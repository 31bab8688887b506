"""Bad input battery: every wrong option or suspicious table fails (or warns) in one clear line, writing nothing.

All option cases run as tasks of one ansible-playbook run against one seeded
database that a successful reset would change, so any case that wrongly gets
through shows up as a changed database.  Every case is checked on its own:
failed, a one-line message naming the problem and the fix, no traceback, no
secret (the run is at -vvvv and scanned), the database read back unchanged.
"""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pyodbc
import pytest

from tests.support import ansible_run
from tests.support import figures
from tests.support import generate_db
from tests.support import secret_scan
from tests.support.scenarios import FAILED

# Pipelining spares each task the copy of the module file; the module still runs through the executor.
FAST = {"ANSIBLE_PIPELINING": "1"}
TRIED = "bad inputs tried (wrong options and data the module must refuse)"
FAILED_CLEANLY = "bad inputs that failed cleanly (failed, one line, no traceback, database unchanged)"
REMOVE = object()
NO_SUCH_DRIVER = "DRIVER={No Such ODBC Driver};SERVER=127.0.0.1;DATABASE=generate;UID=u;PWD=Cs-secret-1"


# The separate options (and the psqlODBC keywords the test databases add), which a connection string replaces.
DISCRETE = ("server", "port", "database", "username", "password", "driver", "connect_params")


def _over(**changes):
    return changes


def _string_only(text):
    """Changes that give only a connection string, without the separate options."""
    changes = dict.fromkeys(DISCRETE, REMOVE)
    changes["connection_string"] = text
    return changes


# Two marks of punctuation in a row (".." or ": ." or ", ,"), as a quoted sentence's own period before ours.
DOUBLED_PUNCTUATION = re.compile(r"(?<!\.)[.,;:]\s*[.,;:](?!\.)")

# (case id, changes to the working reset arguments, text the message must hold, task environment)
OPTION_CASES = [
    ("stuck_after negative", _over(stuck_after=-1), ["stuck_after must be between 0", "30000"], None),
    ("stuck_after above 30 days", _over(stuck_after=2592001), ["stuck_after must be between 0 (no stuck detection) and 2592000"], None),
    ("stuck_after huge", _over(stuck_after=10 ** 15), ["stuck_after must be between"], None),
    ("stuck_after not a number", _over(stuck_after="soon"), ["stuck_after", "int"], None),
    ("hangfire not a choice", _over(hangfire="maybe"), ["hangfire", "auto, required, ignore"], None),
    ("hangfire_schema with SQL", _over(hangfire_schema='HangFire"; --'), ["hangfire_schema", "is not a plain identifier"], None),
    ("hangfire_schema null", _over(hangfire_schema=None), ["hangfire_schema", "is not a plain identifier", "HangFire"], None),
    ("hangfire_server_timeout zero", _over(hangfire_server_timeout=0),
     ["hangfire_server_timeout must be between 30 and 86400 seconds, got 0"], None),
    ("hangfire_server_timeout huge", _over(hangfire_server_timeout=10 ** 9),
     ["hangfire_server_timeout must be between 30 and 86400"], None),
    ("history_lines negative", _over(history_lines=-1), ["history_lines must be between 0 and 100"], None),
    ("history_lines above 100", _over(history_lines=101), ["history_lines must be between 0 and 100, got 101"], None),
    ("history_lines not a number", _over(history_lines="all"), ["history_lines", "int"], None),
    ("history_lines null", _over(history_lines=None), ["history_lines"], None),
    ("connect_timeout zero", _over(connect_timeout=0), ["connect_timeout must be between 1 and 600"], None),
    ("connect_timeout negative", _over(connect_timeout=-5), ["connect_timeout must be between 1 and 600"], None),
    ("connect_timeout huge", _over(connect_timeout=10 ** 6), ["connect_timeout must be between 1 and 600"], None),
    ("connect_timeout not a number", _over(connect_timeout="ten"), ["connect_timeout", "int"], None),
    ("query_timeout zero", _over(query_timeout=0), ["query_timeout must be between 1 and 3600"], None),
    ("query_timeout negative", _over(query_timeout=-1), ["query_timeout must be between 1 and 3600"], None),
    ("query_timeout above an hour", _over(query_timeout=3601), ["query_timeout must be between 1 and 3600"], None),
    ("query_timeout not a number", _over(query_timeout="1h"), ["query_timeout", "int"], None),
    ("port zero", _over(port=0), ["port must be between 1 and 65535, got 0", "1433"], None),
    ("port 70000", _over(port=70000), ["port must be between 1 and 65535, got 70000"], None),
    ("port negative", _over(port=-1433), ["port must be between 1 and 65535"], None),
    ("port not a number", _over(port="sql"), ["port", "int"], None),
    ("port with a fraction", _over(port=1433.5), ["port", "int"], None),
    ("state unknown", _over(state="delete"), ["state", "status, reset"], None),
    ("state in capitals", _over(state="RESET"), ["state", "status, reset"], None),
    ("audit not a boolean", _over(audit="maybe"), ["audit", "bool"], None),
    ("encrypt not a boolean", _over(encrypt="perhaps"), ["encrypt", "bool"], None),
    ("trust_server_certificate not a boolean", _over(trust_server_certificate="sometimes"),
     ["trust_server_certificate", "bool"], None),
    ("audit_note too long", _over(audit_note="x" * 501),
     ["audit_note must be text of at most 500 characters", "shorten it"], None),
    ("audit_note with a NUL character", _over(audit_note="job\x0042"), ["audit_note holds a NUL character",
                                                                        "remove it"], None),
    ("unknown option", _over(force=True), ["Unsupported parameters", "force"], None),
    ("misspelt option", _over(stuck_afer=60), ["Unsupported parameters", "stuck_afer"], None),
    ("connection_string with server", _over(connection_string="DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1"),
     ["parameters are mutually exclusive", "connection_string|server"], None),
    ("connection_string with password only",
     dict(_string_only("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1"), password="Pw-secret-4"),
     ["parameters are mutually exclusive: connection_string|password"], None),
    ("connection_string empty", _string_only(""),
     ["connection_string is empty", "DRIVER="], None),
    ("connection_string blank", _string_only("   "),
     ["connection_string is empty"], None),
    ("connection_string brace never closed", _string_only("DRIVER={PostgreSQL Unicode;PWD=Cs-secret-2"),
     ["connection_string is malformed", "never closed"], None),
    ("connection_string without pairs", _string_only("just some words"),
     ["connection_string is malformed", "KEY=VALUE"], None),
    ("connection_string without driver", _string_only("SERVER=127.0.0.1;DATABASE=generate"),
     ["connection_string names no DRIVER or DSN"], None),
    ("connection_string with an unknown driver", _string_only(NO_SUCH_DRIVER),
     ["ODBC driver 'No Such ODBC Driver' named in connection_string is not installed", "change DRIVER="], None),
    ("environment connection string malformed", dict.fromkeys(DISCRETE, REMOVE),
     ["connection_string is malformed"], {"GENERATE_DB_CONNECTION_STRING": "DRIVER={x;PWD=Env-secret-3"}),
    ("environment port not a number", _over(port=REMOVE), ["GENERATE_DB_PORT is not a number", "1433"],
     {"GENERATE_DB_PORT": "fifty-four-thirty-two"}),
    ("no server anywhere", dict.fromkeys(DISCRETE, REMOVE),
     ["no database server given", "GENERATE_DB_SERVER"], None),
    ("server empty", _over(server=""), ["no database server given", "GENERATE_DB_SERVER"], None),
    ("server with a line break", _over(server="127.0.0.1\nevil"), ["server is empty or holds control characters"], None),
    ("server smuggling a keyword", _over(server="127.0.0.1;DATABASE=postgres"), ["cannot connect to", "Check server"], None),
    ("database empty", _over(database=""), ["database is empty or holds control characters", "plain name"], None),
    ("database that does not exist", _over(database="no_such_generate"),
     ["cannot connect to 127.0.0.1/no_such_generate", "does not exist"], None),
    ("database that is not Generate", _over(database="postgres"),
     ["not found in database postgres", "is this a Generate database?"], None),
    ("username empty", _over(username=""), ["username is empty or holds control characters"], None),
    ("driver empty", _over(driver=""), ["driver is empty or holds control characters"], None),
    ("schema with SQL", _over(schema='App"; DROP TABLE x; --'), ["is not a plain identifier", "letters, digits"], None),
    ("schema with a dot", _over(schema="App.DataMigrations"), ["is not a plain identifier"], None),
    ("schema with a semicolon", _over(schema="App;"), ["is not a plain identifier"], None),
    ("schema with a quote", _over(schema="App'"), ["is not a plain identifier"], None),
    ("schema in brackets", _over(schema="[App]"), ["is not a plain identifier"], None),
    ("schema with a comment", _over(schema="App --"), ["is not a plain identifier"], None),
    ("schema starting with a digit", _over(schema="1App"), ["is not a plain identifier"], None),
    ("schema empty", _over(schema=""), ["is not a plain identifier"], None),
    ("schema null", _over(schema=None), ["is not a plain identifier"], None),
    ("schema that does not exist", _over(schema="Staging"),
     ["Staging.DataMigration", "not found", "Check database and schema"], None),
]


def case_args(base, changes):
    """The working arguments with one case's changes applied."""
    args = dict(base)
    for name, value in changes.items():
        if value is REMOVE:
            args.pop(name, None)
        else:
            args[name] = value
    return args


@pytest.fixture(scope="module")
def battery_db(postgres):
    """One Generate database that every option case targets; a reset would change it."""
    name = "battery_%s" % uuid.uuid4().hex[:8]
    database = generate_db.postgres_database(postgres, name)
    database.seed(FAILED)
    yield database
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture(scope="module")
def option_battery(battery_db, tmp_path_factory, request):
    """Run every option case as a task; return the records by case and the database before and after.

    Cases with environment variables run in their own ansible-playbook with that
    process environment, as an AWX credential sets it: a task's ``environment:``
    keyword would put the values on the command line that Ansible shows at -vvv.
    """
    base = battery_db.module_args(state="reset")
    before = battery_db.snapshot()
    plain = [(case_id, case_args(base, changes)) for case_id, changes, _e, env in OPTION_CASES if not env]
    # Two playbooks at a time, one per core, each with its share of the cases.
    batches = [(plain[0::2], FAST), (plain[1::2], FAST)]
    batches.extend(([(case_id, case_args(base, changes))], dict(FAST, **env))
                   for case_id, changes, _expected, env in OPTION_CASES if env)
    records = run_batches(batches, tmp_path_factory, request.node.nodeid)
    return records, before, battery_db.snapshot()


def run_batches(batches, tmp_path_factory, test, secrets=()):
    """Run (tasks, environment) batches, two playbooks at a time, at -vvvv; return ``{task: (run, record)}``.

    Every run is scanned for the secrets of its tasks and environment and for ``secrets``.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda batch: ansible_run.run_tasks(
            batch[0], verbosity=4, workdir=str(tmp_path_factory.mktemp("battery")), env=batch[1]), batches))
    records = {}
    for (tasks, env), run in zip(batches, runs):
        secret_scan.check(run, secret_scan.secrets_of_tasks(tasks, env, secrets), test)
        for name, record in run.by_task().items():
            records[name] = (run, record)
    return records


def traceback_shown(run, record):
    """Where a Python traceback shows: in what Ansible printed, or in the result (ansible-core 2.19 puts a
    placeholder there when there is none); an empty list when nowhere."""
    result = record["result"]
    found = []
    if "Traceback" in run.output:
        found.append("the output")
    if result.get("exception") not in (None, "(traceback unavailable)"):
        found.append("the result's exception: %s" % result.get("exception"))
    if "module_stderr" in result or "module_stdout" in result:
        found.append("the module's own output: %s" % json.dumps(result)[:2000])
    return found


def failed_cleanly(run, record, unchanged):
    """Whether the run shows what every bad input must end in: failed, one line, no traceback, nothing written."""
    message = record["result"].get("msg", "")
    return (record["status"] == "failed" and isinstance(message, str) and "\n" not in message.strip()
            and not traceback_shown(run, record) and unchanged)


def assert_no_traceback(run, record):
    """No Python traceback in what Ansible printed nor in the result."""
    found = traceback_shown(run, record)
    assert not found, "a traceback shows in %s" % "; ".join(found)


def assert_clean_failure(run, record, expected):
    """Failed, with one line naming the problem (and the fix), and no traceback."""
    result = record["result"]
    assert record["status"] == "failed", json.dumps(result)[:2000]
    message = result["msg"]
    assert "\n" not in message.strip(), message
    for text in expected:
        assert text in message, message
    assert not DOUBLED_PUNCTUATION.search(message), message
    assert_no_traceback(run, record)


@pytest.mark.parametrize("case_id, changes, expected, environment", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_option_fails_in_one_line_and_writes_nothing(option_battery, case_id, changes, expected, environment,
                                                         request):
    records, before, after = option_battery
    # Tried: the case's task ran and returned a result.
    figures.record(TRIED, int(case_id in records), request.node.nodeid)
    assert case_id in records, "the case did not run"
    run, record = records[case_id]
    figures.record(FAILED_CLEANLY, int(failed_cleanly(run, record, after == before)), request.node.nodeid)
    assert_clean_failure(run, record, expected)
    assert after == before


STATUSES_WITHOUT_SUCCESS = list(generate_db.STATUSES)[:4]
STATUSES_WITH_DUPLICATE = list(generate_db.STATUSES) + [(9, "Error", "Error again")]
READ_ONLY_PASSWORD = "Read-only;{pw}=1"


def _many_steps(database):
    database.seed([("ods", "error", 7200)])
    database.execute(
        'INSERT INTO %s ("DataMigrationId", "DataMigrationTypeId", "DataMigrationStatusId") '
        "SELECT n, 1, 5 FROM generate_series(2, 1101) AS n" % database.table("DataMigrations"))


def _without_history(database):
    database.seed(FAILED)
    database.execute("DROP TABLE %s" % database.table("DataMigrationHistories"))


# (case id, how the database is prepared, expected outcome)
# Outcome "fail": the texts the one-line message holds; the database must be unchanged.
# Outcome "ok": the texts a warning or the message holds, and the statuses the database must end with.
DATA_CASES = [
    ("status code missing", lambda db: db.seed(FAILED, statuses=STATUSES_WITHOUT_SUCCESS),
     ("fail", ["DataMigrationStatuses has no status code 'success'", "Generate needs all of"], None)),
    ("status code twice", lambda db: db.seed(FAILED, statuses=STATUSES_WITH_DUPLICATE),
     ("fail", ["holds status code 'error' twice (ids 4 and 9)", "remove the duplicate"], None)),
    ("DataMigrations empty", lambda db: db.seed([]),
     ("fail", ["App.DataMigrations has no rows", "check database and schema"], None)),
    ("more rows than a Generate database has", _many_steps,
     ("fail", ["App.DataMigrations and its statuses returned more than", "check database and schema"], None)),
    ("history table missing while auditing", _without_history,
     ("fail", ["App.DataMigrationHistories not found in database data_", "cannot be audited",
               "nothing was written; restore the table or set audit to false"], None)),
    ("read-only login attempting reset", lambda db: db.seed(FAILED),
     ("fail", ["resetting migration steps on 127.0.0.1/", "read-only", "use a login that may write"], None)),
    ("step of an unknown type", lambda db: db.seed([("ods", "error", 7200), (9, "error", 7200)]),
     ("ok", ["reset 2 steps: ods error -> success, type-9 error -> success"], {"ods": "success", None: "success"})),
    ("NULL status id", lambda db: db.seed([("ods", "error", 7200), ("rds", None, 7200)]),
     ("ok", ["rds has status id NULL, which is none of Generate's status codes: left untouched"],
      {"ods": "success", "rds": None})),
    # Without Hangfire's tables the age of the trigger decides, and a date in the future counts as fresh.
    ("trigger date in the future", lambda db: (db.seed([("ods", "error", 7200), ("rds", "processing", -3600)]),
                                               db.drop_hangfire()),
     ("ok", ["rds was last triggered at", "in the future: check the database server's clock",
             "reset deferred: rds is processing since"], {"ods": "error", "rds": "processing"})),
    ("processing without a trigger date", lambda db: db.seed([("ods", "success", 7200), ("rds", "processing", None)]),
     ("ok", ["reset 1 step: rds processing -> success"], {"ods": "success", "rds": "success"})),
    ("status codes in capitals", lambda db: db.seed([("ods", 4, 7200), ("rds", 2, 7100), ("report", 2, 7100)], statuses=[
        (status_id, code.upper(), name) for status_id, code, name in generate_db.STATUSES]),
     ("ok", ["reset 3 steps: ods error -> success"], {"ods": "SUCCESS", "rds": "SUCCESS", "report": "SUCCESS"})),
]


def contents(database):
    """Every row of DataMigrations and, where the table exists, of DataMigrationHistories."""
    try:
        return database.snapshot()
    except pyodbc.Error:
        return database.execute('SELECT * FROM %s ORDER BY "DataMigrationId"' % database.table("DataMigrations"))


@pytest.fixture(scope="module")
def data_battery(postgres, tmp_path_factory, request):
    """One database per data case, all cases run as tasks of one playbook; yields records, databases, snapshots."""
    suffix = uuid.uuid4().hex[:8]
    read_only_role = "read_only_%s" % suffix
    postgres.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (read_only_role, READ_ONLY_PASSWORD.replace("'", "''")))
    postgres.psql("ALTER ROLE %s SET default_transaction_read_only = on" % read_only_role)
    databases, tasks, before = {}, [], {}
    for number, (case_id, prepare, _outcome) in enumerate(DATA_CASES):
        database = generate_db.postgres_database(postgres, "data_%s_%d" % (suffix, number))
        prepare(database)
        args = database.module_args(state="reset")
        if case_id == "read-only login attempting reset":
            # Every right on the tables, but a login whose transactions are read-only.
            postgres.psql('GRANT USAGE ON SCHEMA "App" TO %s; GRANT ALL ON ALL TABLES IN SCHEMA "App" TO %s'
                          % (read_only_role, read_only_role), database=database.name)
            args.update(username=read_only_role, password=READ_ONLY_PASSWORD)
        databases[case_id] = database
        before[case_id] = contents(database)
        tasks.append((case_id, args))
    records = run_batches([(tasks[0::2], FAST), (tasks[1::2], FAST)], tmp_path_factory, request.node.nodeid,
                          [READ_ONLY_PASSWORD])
    yield records, databases, before
    for database in databases.values():
        postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database.name)
    postgres.psql("DROP ROLE IF EXISTS %s" % read_only_role)


@pytest.mark.parametrize("case_id, outcome", [(c[0], c[2]) for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_suspicious_data_is_refused_or_handled_as_documented(data_battery, case_id, outcome, request):
    records, databases, before = data_battery
    kind, texts, final_statuses = outcome
    database = databases[case_id]
    test = request.node.nodeid
    figures.record(TRIED if kind == "fail" else "suspicious data cases tried (data the module must work with)",
                   int(case_id in records), test)
    assert case_id in records, "the case did not run"
    run, record = records[case_id]
    if kind == "fail":
        figures.record(FAILED_CLEANLY, int(failed_cleanly(run, record, contents(database) == before[case_id])), test)
        assert_clean_failure(run, record, texts)
        assert contents(database) == before[case_id]
        return
    said = " | ".join([record["result"].get("msg", "")] + record["result"].get("warnings", []))
    statuses = database.statuses()
    figures.record("suspicious data cases handled as documented (result, warning and final statuses)",
                   int(record["status"] == "ok" and all(text in said for text in texts)
                       and not traceback_shown(run, record) and statuses == final_statuses), test)
    assert record["status"] == "ok", json.dumps(record["result"])[:2000]
    for text in texts:
        assert text in said, said
    assert_no_traceback(run, record)
    assert statuses == final_statuses
