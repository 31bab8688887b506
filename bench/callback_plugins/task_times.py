# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark callback: append how long each task took on each host to the file named by CEDS_TASK_TIMES."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: write each task's duration per host to the file named by CEDS_TASK_TIMES
description:
  - Used by the benchmark (bench/) to measure the executor's cost of one task, from the worker's start to its
    result, and to stop a run at its first failed host with that host's message.
requirements: [CEDS_TASK_TIMES set in the environment]
"""

# Enough of a failure's message to say why, in one line of the benchmark's error.
MESSAGE_CHARACTERS = 2000


class CallbackModule(CallbackBase):
    """Write one JSON line per host and task: host, task, action, status, seconds (and msg when it failed)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._started = {}
        self._path = os.environ.get("CEDS_TASK_TIMES")

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.perf_counter()

    def _record(self, result, status, **extra):
        ended = time.perf_counter()
        started = self._started.pop((result._host.get_name(), result._task._uuid), None)
        if not self._path or started is None:
            return
        record = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "seconds": ended - started,
        }
        if status in ("failed", "unreachable"):
            record["msg"] = str(result._result.get("msg", ""))[:MESSAGE_CHARACTERS]
        record.update(extra)
        # One write per line, flushed at once: the benchmark reads the file while the run goes on.
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
