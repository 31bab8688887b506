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
  - With O(state=rerun), asks Generate's background app to run each migration type of O(types) again, as its
    Migrate button does (C(GET {background_url}/api/DataMigration/MigrateData/{type})), one type at a time in
    Generate's order (C(ods), C(rds), C(report)), and waits for each to end before the next.
  - Generate re-uses the selection saved in the database (for C(report), the locked reports and selected years).
  - A type is never triggered while Hangfire shows a migration job running or queued, nor when its step is
    already C(pending) or C(processing). Each request is sent once; when it fails or times out, the module reads
    the database to see whether the run started anyway before deciding anything else.
  - The wait reads the step (one SELECT per poll) every O(poll) seconds and prints a progress line (elapsed time,
    the step's status, the newest history line), which AWX shows in the job output. A run ends in B(success)
    (the step is C(success) with a new trigger date and a C(LastDurationInSeconds), and no job of its type runs
    any more), B(error) (the step is
    C(error); the task fails with the run's history lines, newest first) or B(timeout) (still running after
    O(timeout); the task fails and the run is left running, never cancelled).
  - With O(state=cancel), for each type of O(types) whose job is hung (running longer than O(stuck_after)), asks
    Generate to cancel it (C(GET {background_url}/api/DataMigration/MigrateData/Cancel/{type})) and waits until
    Hangfire shows no C(Processing) migration job and the step is C(error). Generate's cancel deletes every
    C(Processing) job, whatever its type. Hangfire's tables are never written by this module.
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
      - Migration types to re-run or cancel (C(ods), C(rds), C(report), ...), taken in Generate's order whatever
        the order given. With O(state=rerun) the first that does not end in success stops the rest.
    type: list
    elements: str
    required: true
  poll:
    description:
      - Seconds between two reads of the database while waiting (1 to 3600).
    type: int
    default: 30
  timeout:
    description:
      - Seconds to wait for one type's run to end.
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
  stuck_after:
    description:
      - Seconds a run may take before its job counts as hung (O(state=cancel)); as in M(ceds.generate.data_migrations).
    type: int
  hangfire:
    description:
      - As in M(ceds.generate.data_migrations). With V(ignore), or without readable Hangfire tables, a running or
        queued job cannot be seen and only the step's own status holds a trigger back.
    type: str
    choices: [auto, required, ignore]
    default: auto
  hangfire_schema:
    description:
      - Schema of Hangfire's tables.
    type: str
    default: HangFire
  server_timeout:
    description:
      - Seconds a Hangfire server may be silent and still count as alive.
    type: int
    default: 300
  history_lines:
    description:
      - History lines returned for a run that ended in error, newest first.
    type: int
    default: 5
extends_documentation_fragment:
  - ceds.generate.connection
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The action plugin runs the requests and the reads in the worker process, on the controller.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads the database and says, per type, what would be triggered and why or why not; sends no request.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
seealso:
  - module: ceds.generate.data_migrations
"""

EXAMPLES = r"""
- name: Re-run the steps a reset set to success, and wait for them
  ceds.generate.migration_run:
    background_url: http://generate-bg.internal:8081
    types: "{{ migration.reset_steps | map(attribute='type_code') | list }}"
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
  sample: "ods success in 1432 s; rds success in 3600 s"
runs:
  description: One entry per type, in the order taken.
  returned: success
  type: list
  elements: dict
  sample: [{"type_code": "ods", "triggered": true, "outcome": "success", "elapsed_seconds": 1450,
            "duration_seconds": 1432, "last_history_line": "ODS Migration Complete", "history": [], "reason": null}]
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
      description: V(success), V(error), V(timeout), V(not started), V(would start) (check mode), V(cancelled)
        or V(not hung).
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
      description: Why the type was not started, failed, or would be started; null after success.
      type: str
      returned: success
requests_sent:
  description: The background app's paths requested, in order; each is sent once.
  returned: always
  type: list
  elements: str
  sample: ["/api/DataMigration/MigrateData/ods"]
ansible_facts:
  description: The fact C(generate_migrations) as the database holds it at the end, as
    M(ceds.generate.data_migrations) returns it (without history lines).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ceds.generate.plugins.module_utils import connection, connection_options, migration_rerun


def main():
    module = AnsibleModule(argument_spec=migration_rerun.argument_spec(), supports_check_mode=True,
                           **connection_options.argument_rules())
    if connection.pyodbc is None:
        module.fail_json(msg=missing_required_lib("pyodbc", reason=connection.PYODBC_HINT),
                         exception=connection.PYODBC_IMPORT_ERROR)
    result, secrets = migration_rerun.execute(module.params, module.check_mode, say=module.log)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
