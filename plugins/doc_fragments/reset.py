# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of a status check or a reset of the migration steps, shared by data_migrations and
    environment_check."""

    DOCUMENTATION = r"""
options:
  state:
    description:
      - V(status) only reads and reports.
      - V(reset) also resets failed steps to C(success) when that is needed and safe.
    type: str
    choices: [status, reset]
    default: status
  history_lines:
    description:
      - Lines of C(DataMigrationHistories) reported per failed step in C(last_errors), newest first, from the
        step's last trigger on (0 to 100).
    type: int
    default: 5
  audit:
    description:
      - Write one C(DataMigrationHistories) line per reset step, in the reset's transaction, saying what was
        reset from what and by this module, so Generate's own history shows it.
    type: bool
    default: true
  unlock_reports:
    description:
      - When the reset sets the C(report) step to C(success), also unlock every locked report
        (C(GenerateReports.IsLocked = 1)), as Generate's own error path does, in the reset's transaction, with an
        audit line naming them.
      - Use it when no re-run of C(report) follows. The default keeps them locked, because a re-run of C(report)
        processes exactly the locked reports (the selection the user saved).
    type: bool
    default: false
  audit_note:
    description:
      - Text added to each audit line, for example an AWX job id or a ticket number (at most 500 characters).
    type: str
"""
