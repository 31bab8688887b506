"""One environment's checks in one task: their order, what stops them, and how each failure is named."""

from __future__ import annotations

from ansible_collections.ceds.generate.plugins.module_utils import environment_check

FAILED_FACTS = {"generate_migrations": {"state": "failed", "steps": [{"type_code": "report", "status_code": "error"}],
                                        "last_errors": [{"message": "deadlock victim"}], "reports_blocked": False}}


def options(**given):
    """The module's options as validation leaves them: every option, its default unless given."""
    found = dict((name, spec.get("default")) for name, spec in environment_check.argument_spec().items())
    found.update(given)
    return found


class Database:
    """data_migrations as the check calls it: records the options of each call and answers ``result``."""

    def __init__(self, result):
        self.result = result
        self.calls = []

    def __call__(self, params):
        self.calls.append(params)
        return dict(self.result), {"s3cret"}


def run(database, connection="local", setting="ansible_host", **given):
    check = environment_check.EnvironmentCheck(options(**given), False, {}, database, lambda text: None,
                                               connection, setting)
    return check.run(), check


def test_an_empty_connection_variable_stops_the_check_before_anything_is_read():
    database = Database({"changed": False})
    result, _check = run(database, empty_variables=["generate_db_password"])
    assert database.calls == []
    assert result["failed"] is True and result["held_back"] is False
    assert result["failures"] == [result["msg"]]
    assert result["msg"].startswith("Inventory: no connection variable left empty: generate_db_password is empty "
                                    "for this environment: set it (")


def test_an_earlier_failure_holds_the_environment_back_when_asked():
    database = Database({"changed": False})
    result, _check = run(database, held_back_by=["dev", "test"])
    assert database.calls == []
    assert result["held_back"] is True
    assert result["msg"] == ("Rollout: stop before prod when an earlier environment failed: not run, since dev, test "
                             "failed and generate_stop_before_prod is set")


def test_a_read_with_failed_steps_is_a_failed_check_and_its_facts_and_secrets_are_kept():
    database = Database({"changed": False, "msg": "failed steps: report", "ansible_facts": FAILED_FACTS,
                         "warnings": ["a warning"], "diff": {"before": {}, "after": {}}})
    result, check = run(database)
    [called] = database.calls
    assert called["state"] == "status" and called["audit_note"] is None
    assert result["failures"] == ["Database: leave no failed or stuck step behind: failed steps: report; last error: "
                                  "deadlock victim"]
    assert result["ansible_facts"] == FAILED_FACTS and result["warnings"] == ["a warning"]
    assert result["migration"]["msg"] == "failed steps: report" and "app_probes" not in result
    assert check.secrets == {"s3cret"}


def test_a_reset_that_changed_steps_passes_and_says_what_data_migrations_said():
    database = Database({"changed": True, "msg": "reset report", "reset_steps": [{"type_code": "report"}],
                         "ansible_facts": {"generate_migrations": {"state": "ok", "steps": []}}})
    result, _check = run(database, state="reset", audit_note="CHG-1")
    assert database.calls[0]["state"] == "reset" and database.calls[0]["audit_note"] == "CHG-1"
    assert result["failures"] == [] and "failed" not in result
    assert result["changed"] is True and result["msg"] == "reset report"


def test_an_environment_that_cannot_be_reached_names_the_connection_and_the_setting_that_chose_it():
    database = Database({"unreachable": True, "msg": "Failed to connect to the host via ssh: refused"})
    result, _check = run(database, connection="ssh", setting="ansible_host", state="reset")
    [failure] = result["failures"]
    assert failure.startswith("Database: reset failed steps: unreachable over ssh: Failed to connect to the host via "
                              "ssh: refused; the inventory sets ansible_host for this environment")


def test_a_recovery_without_the_background_app_fails_saying_what_to_set_and_reads_nothing():
    database = Database({"changed": False})
    result, _check = run(database, state="reset", cancel_hung={"poll": 30, "timeout": None})
    assert database.calls == []
    assert result["msg"] == ("Hung runs: cancel them through Generate's background app: background_url is needed to ask "
                             "Generate's background app to cancel: set it (generate_background_url)")
