# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test callback: append every task result, as Ansible hands it to callbacks, to a JSON-lines file."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: result_file
type: aggregate
short_description: write task results to the file named by CEDS_RESULT_FILE
description: Used by the test suite to read the module's results exactly as a callback receives them.
requirements: [CEDS_RESULT_FILE set in the environment]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_file"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.monotonic()

    def _write(self, result, status):
        path = os.environ.get("CEDS_RESULT_FILE")
        if not path:
            return
        started = self._task_started.get(result._task._uuid)
        record = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "result": result._result,
            # Seconds from the task's start to this host's result: what the module run cost, as seen by Ansible.
            "duration": None if started is None else round(time.monotonic() - started, 3),
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
