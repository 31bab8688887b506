#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: migration_run
short_description: Re-run (or cancel) CEDS Generate migrations through Generate's own background app, and wait
version_added: 1.1.0
description:
  - With O(state=rerun), does what Generate's Migrate button does and waits for it to end. From Generate 12.0,
    C(App.Migrate_Data) runs the whole pipeline (source to staging, validation, RDS and report tasks) over the
    B(locked) reports whatever the type it is started for, so the types of O(types) are re-done by B(one)
    C(report) run (C(GET {background_url}/api/DataMigration/MigrateData/report)), never C(ods) or C(rds) on
    their own, which would run the same hours-long pipeline again. Before 12.0 (11.x) each type ran its own tasks;
    each type of O(types) is run once, in Generate's order (C(ods), C(rds), C(report)), each waited for before
    the next.
  - A report run needs a report selection. The reports still locked (a run that crashed) are used. Otherwise the
    codes of O(reports) are checked (each must exist in C(App.GenerateReports) and be active) and locked in one
    transaction with an audit line in C(App.DataMigrationHistories), as the web app saves the selection before it
    triggers the run. With neither, no request is sent and the task fails, saying so. A failed run unlocks its
    reports (C(CompleteMigration) with error), and a report run with nothing locked migrates nothing and still ends
    in success.
  - A run is never triggered while Hangfire shows a migration job running or queued, nor when its step is already
    C(pending) or C(processing) with a job to finish it. Each request is sent once; when it fails or times out, the
    module reads the database to see whether the run started anyway before deciding anything else.
  - The wait reads, every O(poll) seconds and in one SELECT, the step, its history lines since the request,
    Hangfire's unfinished jobs of its type, the locked reports and the database's clock, and prints a progress
    line, which AWX shows in the job output. A run ends in B(success) only when the step is C(success), Generate
    wrote its completion line after the request (C(App.Migrate_Data)'s C(Migration Complete), or for C(report)
    also C(REPORT Migration Complete - successful), which the last report's C(MarkReportAsComplete) writes, with
    a C(Report Complete) line for each selected report), no job of the run is left (per-report jobs and their continuations included) and the selected
    reports are unlocked (those Generate migrates the old way, C(UseLegacyReportMigration), excepted, since nothing
    unlocks them).
  - Otherwise a run ends in B(error) (the step is C(error) and Generate wrote its error lines), B(stuck) (started,
    but no job is left to finish it and the step is still C(pending) or C(processing), as when a per-report job
    fails and Hangfire deletes it with its continuation; or its jobs wait for a background server that is not
    alive), B(incomplete) (no job left and the step C(success), but without the completion line or with reports
    still locked), B(not started) (no job and no history line of the run within O(start_timeout)) or
    B(timeout) (still running after O(timeout); the run is left running, never cancelled). The task fails with the
    reason and the run's history lines, newest first.
  - With O(state=cancel), for each type of O(types) whose job is hung (running longer than O(stuck_after)), asks
    Generate to cancel it (C(GET {background_url}/api/DataMigration/MigrateData/Cancel/{type})). Generate's cancel
    deletes every C(Processing) job, sets the step to C(error) and answers while the cancelled worker is still
    running; the worker notices within about a second, and its catch block logs C(Error Occurred - ...) and calls
    C(CompleteMigration) with error again, which would set a step reset meanwhile back to C(error) and unlock the
    reports. So the cancel ends in B(cancelled) only once each cancelled worker has written its closing lines and no
    C(Processing), C(Enqueued) or C(Awaiting) job of the type is left (Generate's cancel leaves the latter two);
    nothing should be reset before that. A per-report job (C(ExecuteReportMigrationByYearLevelAndCategorySet))
    takes no cancellation token, so Generate's cancel deletes it but it runs to its end; it is named in a warning,
    and the cancel waits for its C(Report Complete) line. Hangfire's tables are never written by this module.
  - Every age is taken against the database's clock, read in the same SELECT as the dates it is compared with, so
    the controller's clock decides nothing.
  - Generate's background endpoints have no authentication; put O(background_url) on a network only operators
    reach.
  - The module runs on the controller (or execution environment) through its action plugin, whatever the
    connection; the controller must reach the background app and the database.
author:
  - ceds.generate contributors (@ceds-generate-ops)
options:
  state:
    description:
      - V(rerun) triggers Generate's re-run of each type and waits for it.
      - V(cancel) cancels each type's hung run and waits for the cancel.
    type: str
    choices: [rerun, cancel]
    default: rerun
  background_url:
    description:
      - Base URL of Generate's background app (the Hangfire dashboard's host).
    type: str
    required: true
  types:
    description:
      - Migration types to re-do or cancel, in lower case as Generate's C(MigrateData) compares them
        case-sensitively (it does nothing for C(ODS) and answers 200 all the same), that is C(ods), C(rds) or C(report).
      - With O(state=rerun), from Generate 12.0 any non-empty list means one C(report) run; before 12.0 each type
        once, in Generate's order, the first that does not end in success stopping the rest.
    type: list
    elements: str
    required: true
  reports:
    description:
      - Report codes (C(App.GenerateReports.ReportCode), such as C(c002)) to migrate when no report is locked, as
        the report migration page's selection. Each must exist and be active; they are locked, with an audit line,
        before the run is triggered.
      - Ignored when reports are still locked (a crashed run's selection is used as it is).
    type: list
    elements: str
    default: []
  start_timeout:
    description:
      - Seconds to wait for a run to show that it started (a Hangfire job of its type, or a history line) before
        it counts as B(not started) (1 to 3600).
    type: int
    default: 120
  poll:
    description:
      - Seconds between two reads of the database while waiting (1 to 3600).
    type: int
    default: 30
  timeout:
    description:
      - Seconds to wait for one run to end.
      - When not set, three times the step's last successful duration, at least 1800, at most Generate's own
        command timeout for the installed version (30000 before 13.2, 300000 from 13.2). For O(state=cancel),
        1800.
    type: int
  http_timeout:
    description:
      - Seconds to wait for the background app to answer a request (1 to 600).
    type: int
    default: 30
  validate_certs:
    description:
      - Whether to check the background app's TLS certificate.
    type: bool
    default: true
  history_lines:
    description:
      - History lines returned for a run that ended in C(error), C(stuck) or C(incomplete), newest first.
    type: int
    default: 5
extends_documentation_fragment:
  - ceds.generate.connection
  - ceds.generate.hangfire
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ceds.generate.attributes.in_the_worker
attributes:
  action:
    details: The action plugin runs the requests and the reads in the worker process, on the controller.
  check_mode:
    details: Reads the database and says, per type, what would be triggered and why or why not; sends no request.
seealso:
  - module: ceds.generate.data_migrations
"""

EXAMPLES = r"""
- name: Re-do the steps a reset set to success with Generate's own run, and wait for it
  ceds.generate.migration_run:
    background_url: http://generate-bg.internal:8081
    types: "{{ migration.reset_steps | map(attribute='type_code') | list }}"
    # Used only when no report is locked any more (a failed run unlocks them).
    reports: [c002, c089]
    server: sql01.example.org
    username: generate_monitor
    password: "{{ generate_db_password }}"
  register: rerun

- name: Cancel a hung report run through Generate
  ceds.generate.migration_run:
    state: cancel
    background_url: http://generate-bg.internal:8081
    types: [report]
    server: sql01.example.org
    username: generate_monitor
    password: "{{ generate_db_password }}"
"""

RETURN = r"""
changed:
  description: Whether a request was sent (in check mode, whether one would be).
  returned: always
  type: bool
  sample: true
msg:
  description: One line per type's outcome.
  returned: always
  type: str
  sample: "report success in 5432 s on reports c002, c089"
runs:
  description: One entry per type, in the order taken.
  returned: success
  type: list
  elements: dict
  sample: [{"type_code": "report", "triggered": true, "outcome": "success", "elapsed_seconds": 5450,
            "duration_seconds": 5432, "last_history_line": "REPORT Migration Complete - successful", "history": [],
            "reason": null, "reports": ["c002", "c089"]}]
  contains:
    type_code:
      description: The migration type.
      type: str
      returned: success
    triggered:
      description: Whether the request was sent.
      type: bool
      returned: success
    outcome:
      description: V(success), V(error), V(stuck), V(incomplete), V(timeout), V(not started), V(would start)
        (check mode), V(cancelled) or V(not hung).
      type: str
      returned: success
    elapsed_seconds:
      description: Seconds waited.
      type: int
      returned: success
    duration_seconds:
      description: The run's C(LastDurationInSeconds) after success, else null.
      type: int
      returned: success
    last_history_line:
      description: The newest history line of the run, or null.
      type: str
      returned: success
    history:
      description: After an error, the run's history lines, newest first (C(date), C(message)).
      type: list
      elements: dict
      returned: success
    reason:
      description: Why the run was not started, did not end in success, or would be started; null after success.
      type: str
      returned: success
    reports:
      description: The reports the run migrates (empty for a type other than C(report)).
      type: list
      elements: str
      returned: success
warnings:
  description: Jobs that Generate's cancel cannot stop, and the plan's warnings (orphaned or hung jobs).
  returned: when there are some
  type: list
  elements: str
requests_sent:
  description: The background app's paths requested, in order; each is sent once.
  returned: always
  type: list
  elements: str
  sample: ["/api/DataMigration/MigrateData/report"]
migrations:
  description:
    - The migrations as the database holds them at the end, in the form of the fact C(generate_migrations) that
      M(ceds.generate.data_migrations) returns. This module sets no fact, so that in a playbook one task (the
      status check or reset) sets C(generate_migrations).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ceds.generate.plugins.module_utils import (
    connection,
    migration_run,
)


def main():
    module = AnsibleModule(argument_spec=migration_run.argument_spec(), supports_check_mode=True,
                           **migration_run.argument_rules())
    connection.ensure_required_libs(module)
    result, secrets = migration_run.execute(module.params, module.check_mode, say=module.log)
    connection.finish(module, result, secrets)


if __name__ == "__main__":
    main()
