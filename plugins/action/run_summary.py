# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a run's summary as JSON and Markdown on the controller, and publish it for AWX workflows.

The playbooks write the summary at the start of every batch and at the end of
the run. With ansible.builtin.file, copy, template and set_stats that was five
tasks, four of them starting module processes on the controller, each time; a
run of ten environments spent more on its summaries than on its checks. This
plugin does the same in one task, in the worker process, without a module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "summary": {"type": "dict", "required": True},
    "markdown": {"type": "str", "required": True},
    "folder": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
}
# As the reports folder and files were created before (ansible.builtin.file and copy with these modes).
FOLDER_MODE = 0o755
FILE_MODE = 0o644


def json_text(summary):
    """The summary as ansible.builtin.to_nice_json writes it, with a final newline."""
    return json.dumps(summary, cls=AnsibleJSONEncoder, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def write_file(path, text):
    """Write ``text`` to ``path`` in one step: a reader (merge_summaries.yml, AWX) never sees half a summary."""
    folder, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + name + ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(text)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_summary(folder, name, summary, markdown):
    """Write ``<folder>/<name>.json`` and ``.md``, creating the folder; return the two paths."""
    os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
    paths = [os.path.join(folder, name + ".json"), os.path.join(folder, name + ".md")]
    write_file(paths[0], json_text(summary))
    write_file(paths[1], markdown if markdown.endswith("\n") else markdown + "\n")
    return paths


class ActionModule(ActionBase):
    """Write the summary files (not in check mode) and publish the summary as the stat generate_summary."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    # The files are the controller's: no connection to the host is used.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validated, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        files = []
        if not self._task.check_mode:
            try:
                files = write_summary(args["folder"], args["name"], args["summary"], args["markdown"])
            except OSError as exc:
                result.update(failed=True, msg="could not write the summary to %s: %s; set generate_reports_dir to a "
                                               "folder the run can write" % (args["folder"], exc.strerror or exc))
                return result
        # The reports describe the run; writing them changes no environment.
        result.update(changed=False, files=files,
                      ansible_stats={"data": {"generate_summary": args["summary"]}, "per_host": False,
                                     "aggregate": False})
        return result
