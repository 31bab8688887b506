"""ceds.generate.run_summary through the real ansible-playbook: the files it writes, check mode, and a folder it
cannot write."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.plugins.filter.core import to_nice_json

from tests.support import ansible_run

# The plugin leans on ansible-core's handling of ansible_stats and check mode: every release of the matrix.
pytestmark = pytest.mark.every_release

MODULE = "ceds.generate.run_summary"
SUMMARY = {"playbook": "migration_status", "complete": True, "check_mode": False,
           "environments": [{"environment": "dev-é", "outcome": "ok", "error": None, "steps_reset": []},
                            {"environment": "prod", "outcome": "failed", "error": "Web app: HTTP 500"}],
           "failed_environments": ["prod"]}
MARKDOWN = "# migration_status\n\n| environment | outcome |\n|---|---|\n| prod | failed |"


def records(run):
    """The callback records of the plugin's tasks, by task name."""
    return dict((record["task"], record) for record in run.records if record["action"] == MODULE)


def task(folder, **keywords):
    """The plugin's arguments for ``folder``."""
    return {"summary": SUMMARY, "markdown": MARKDOWN, "folder": folder, "name": "migration_status-job7"}, keywords


def test_writes_the_json_as_to_nice_json_and_the_markdown_and_publishes_the_summary(tmp_path):
    folder = str(tmp_path / "reports" / "nested")
    arguments, _keywords = task(folder)
    run = ansible_run.run_tasks([("write", arguments)], module=MODULE, workdir=str(tmp_path))
    result = records(run)["write"]
    assert result["status"] == "ok", run.output[-3000:]
    written = [os.path.join(folder, "migration_status-job7.json"), os.path.join(folder, "migration_status-job7.md")]
    assert result["result"]["files"] == written
    assert result["result"]["changed"] is False
    published = {"data": {"generate_summary": SUMMARY}, "per_host": False, "aggregate": False}
    assert result["result"]["ansible_stats"] == published
    with open(written[0], encoding="utf-8") as handle:
        assert handle.read() == to_nice_json(SUMMARY) + "\n"
    with open(written[1], encoding="utf-8") as handle:
        assert handle.read() == MARKDOWN + "\n"
    assert sorted(os.listdir(folder)) == ["migration_status-job7.json", "migration_status-job7.md"]
    assert [stat.S_IMODE(os.stat(path).st_mode) for path in written] == [0o644, 0o644]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755


def test_check_mode_writes_nothing_and_still_publishes(tmp_path):
    folder = str(tmp_path / "reports")
    arguments, keywords = task(folder, check_mode=True)
    run = ansible_run.run_tasks([("write", arguments, keywords)], module=MODULE, workdir=str(tmp_path))
    result = records(run)["write"]
    assert result["status"] == "ok", run.output[-3000:]
    assert result["result"]["files"] == []
    assert result["result"]["ansible_stats"]["data"]["generate_summary"] == SUMMARY
    assert not os.path.exists(folder)


def test_a_folder_it_cannot_write_fails_in_one_line_and_leaves_what_was_there(tmp_path):
    taken = tmp_path / "reports"
    taken.write_text("not a folder\n")
    arguments, _keywords = task(str(taken))
    run = ansible_run.run_tasks([("write", arguments)], module=MODULE, workdir=str(tmp_path))
    result = records(run)["write"]
    assert result["status"] == "failed"
    message = result["result"]["msg"]
    assert message == ("could not write the summary to %s: File exists; set generate_reports_dir to a folder the run "
                       "can write" % taken), message
    assert "Traceback" not in run.output
    assert taken.read_text() == "not a folder\n"
    assert "ansible_stats" not in result["result"]
