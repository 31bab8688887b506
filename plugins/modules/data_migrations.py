#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: data_migrations
short_description: Report CEDS Generate data migration status and reset failed steps safely
version_added: 1.0.0
description:
  - Reads C(App.DataMigrations) of a CEDS Generate database and reports the state of every migration step
    (C(ods), C(rds), C(report), ...) as the fact C(generate_migrations).
  - With O(state=reset), resets failed steps to C(success), the documented fix for a Generate whose report
    pages say "The migration must be run prior to viewing reports", but only when it is needed and safe.
  - A step is B(failed) when its status is C(error), or B(stuck) when it is C(pending) or C(processing) and
    nothing will ever finish it.
  - Generate runs its migrations as Hangfire jobs, and Hangfire keeps its jobs and its servers' heartbeats in
    the same database. With O(hangfire=auto) (the default) the module reads them and decides from them; the
    fact C(decided_by) says which rule decided. See C(docs/how-the-module-decides.md) for the table.
  - B(With Hangfire), each unfinished migration job is B(running) (C(Processing) on a server that beat within
    O(hangfire_server_timeout)), B(queued) (C(Enqueued), C(Scheduled) or C(Awaiting), or C(Processing) on a
    dead server while a live one exists, since Hangfire hands it out again) or B(orphaned) (C(Processing) on a dead server
    while no server is alive, so it runs again when a background app starts). A step is running or queued when a
    job of its type is; a C(pending) or C(processing) step with no running or queued job of its type is stuck,
    whatever its age. A running job older than O(stuck_after) is B(hung), which is reported and never reset.
  - B(Without Hangfire) (its tables absent or unreadable, or O(hangfire=ignore)), the age decides. A
    C(pending) or C(processing) step is stuck when it was last triggered more than O(stuck_after) seconds ago
    (or never), and running when it is C(processing) within O(stuck_after).
  - A reset happens only when at least one step is failed and no migration is running or queued (with
    Hangfire, no migration job is running or queued, of any type; orphaned jobs do not hold it back, and each
    gives a warning). It sets every step whose status is C(error), C(pending) or C(processing) to C(success),
    like the manual C(update App.DataMigrations set DataMigrationStatusId = 5), limited to the rows that need
    it. Steps in C(initial) or C(success), and steps whose status id is none of Generate's codes, are never
    touched. Hangfire's tables are never written.
  - When a migration is running or queued, nothing is changed and the module warns C(reset deferred), naming the
    job (id, method, type, since) or the step.
  - Status ids are looked up by their codes (C(initial), C(pending), C(processing), C(error), C(success)) in
    C(DataMigrationStatuses), as Generate itself does, so installs with other ids work.
  - Each step is reset with a compare-and-set on the status that was read, all in one transaction. Before the
    commit, in that transaction, the module reads every step's status and trigger date and Hangfire's jobs
    again; if any step differs from what was read (a run that started, or started and ended, in between), or a
    migration job became running or queued, it rolls back, reads again and plans once more; if that happens
    twice, it fails with nothing written. The row count of the UPDATE is not relied on alone (a server with
    C(SET NOCOUNT ON) answers -1).
  - The module runs where the task runs (usually the controller or an execution environment, with
    C(ansible_connection=local)) and reaches SQL Server over the network.
  - On a local connection its action plugin runs the module's code inside Ansible's worker process, with the
    same options, environment fallbacks (the task's C(environment) included, also as the process environment that
    unixODBC and the driver read) and result, and without starting a module process. With C(become), C(async),
    any other connection, an C(ansible_python_interpreter) that is not the Python running C(ansible-playbook),
    or no pyodbc in that Python, it runs as a module process on the host instead.
author:
  - ceds.generate contributors (@ceds-generate-ops)
extends_documentation_fragment:
  - ceds.generate.connection
  - ceds.generate.hangfire
  - ceds.generate.reset
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: On a local connection the action plugin runs the module's code in the worker process.
  async:
    support: full
    details: An async task runs as a module process.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads the tables and returns the same plan; no UPDATE or INSERT is sent.
  diff_mode:
    support: full
    details: Returns the status code of every step before and after, keyed by type code.
  facts:
    support: full
  platform:
    platforms: posix
seealso:
  - name: CEDS Generate
    description: Source of CEDS Generate, whose tables and run logic this module follows.
    link: https://github.com/CEDS-Collaborative-Exchange/Generate
"""

EXAMPLES = r"""
- name: Report the migration status of a Generate database
  ceds.generate.data_migrations:
    server: sql01.example.org
    username: generate_monitor
    password: "{{ generate_db_password }}"
  register: migrations

- name: Reset failed migration steps, noting the AWX job in Generate's history
  ceds.generate.data_migrations:
    state: reset
    server: sql01.example.org
    database: generate
    username: generate_reset
    password: "{{ generate_db_password }}"
    audit_note: "AWX job {{ awx_job_id | default('manual') }}"

- name: Set the connection once for every task of the play
  hosts: generate
  connection: local
  gather_facts: false
  module_defaults:
    group/ceds.generate.database:
      server: "{{ generate_db_server }}"
      username: "{{ generate_db_username }}"
      password: "{{ generate_db_password }}"
  tasks:
    - name: Reset when needed
      ceds.generate.data_migrations:
        state: reset

- name: Decide only from Hangfire's jobs and servers; fail when they cannot be read
  ceds.generate.data_migrations:
    state: reset
    server: sql01.example.org
    username: generate_reset
    password: "{{ generate_db_password }}"
    hangfire: required

- name: Use a full ODBC connection string (for example Kerberos)
  ceds.generate.data_migrations:
    connection_string: "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01,1433;DATABASE=generate;Trusted_Connection=yes"
"""

RETURN = r"""
changed:
  description: Whether steps were reset (in check mode, whether they would be).
  returned: always
  type: bool
  sample: true
msg:
  description: One line saying what was done, or why nothing was.
  returned: always
  type: str
  sample: "reset 2 steps: rds error -> success, report pending -> success"
deferred:
  description: True when failed steps need a reset but a running or queued migration holds it back.
  returned: success
  type: bool
  sample: false
before:
  description:
    - The state as read, before any reset; the same as in the fact when nothing was reset.
    - With O(state=reset) the fact describes the steps after the reset, and this what the reset started from.
  returned: success
  type: dict
  sample: {"state": "failed", "failed_steps": ["ods", "report"], "stuck_steps": ["report"]}
  contains:
    state:
      description: C(ok), C(failed) or C(running), as in the fact.
      type: str
      returned: success
    failed_steps:
      description: Type codes of the failed (error or stuck) steps.
      type: list
      elements: str
      returned: success
    stuck_steps:
      description: Type codes of the steps pending or processing with nothing left to finish them.
      type: list
      elements: str
      returned: success
reset_steps:
  description: The steps reset (or, in check mode, that would be), with the status codes before and after.
  returned: success
  type: list
  elements: dict
  sample: [{"id": 2, "type_code": "rds", "from": "error", "to": "success"}]
  contains:
    id:
      description: DataMigrationId of the step.
      type: int
      returned: always
      sample: 2
    type_code:
      description: Type code of the step.
      type: str
      returned: always
      sample: rds
    from:
      description: Status code before the reset.
      type: str
      returned: always
      sample: error
    to:
      description: Status code after the reset.
      type: str
      returned: always
      sample: success
unlocked_reports:
  description: With O(unlock_reports), the report codes unlocked (in check mode, that would be).
  returned: success
  type: list
  elements: str
  sample: ["c002"]
executed_queries:
  description: The SQL statements sent, without their parameter values.
  returned: always
  type: list
  elements: str
  sample: ['UPDATE "App"."DataMigrations" SET "DataMigrationStatusId" = ? WHERE "DataMigrationId" = ? AND "DataMigrationStatusId" = ?']
diff:
  description: Status code of every step before and after, keyed by type code.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"ods": "success", "rds": "error"}, "after": {"ods": "success", "rds": "success"}}
ansible_facts:
  description: Facts about the migrations.
  returned: success
  type: dict
  contains:
    generate_migrations:
      description: The migration status of the database; after a real reset, the state the reset left.
      returned: success
      type: dict
      contains:
        state:
          description: V(failed) when a step is failed or stuck, else V(running) when a migration is running or
            queued, else V(ok).
          type: str
          returned: success
          sample: failed
        reset_needed:
          description: Whether failed or stuck steps need a reset.
          type: bool
          returned: success
          sample: true
        steps:
          description: Every row of DataMigrations, ordered by DataMigrationId.
          type: list
          elements: dict
          returned: success
          sample: [{"id": 2, "type_id": 2, "type_code": "rds", "type_name": "Reporting Data Store", "status_id": 4,
                    "status_code": "error", "status_name": "Error", "last_trigger_date": "2026-11-26T01:00:00.000Z",
                    "last_duration_seconds": 3600, "age_seconds": 32400, "user_name": "admin", "stuck": false}]
          contains:
            id:
              description: DataMigrationId.
              type: int
              returned: success
              sample: 2
            type_id:
              description: DataMigrationTypeId.
              type: int
              returned: success
              sample: 2
            type_code:
              description: Type code (C(ods), C(rds), C(report), ...); null when the type id is unknown.
              type: str
              returned: success
              sample: rds
            type_name:
              description: Type name.
              type: str
              returned: success
              sample: Reporting Data Store
            status_id:
              description: DataMigrationStatusId.
              type: int
              returned: success
              sample: 4
            status_code:
              description: Status code; null when the status id is none of Generate's codes.
              type: str
              returned: success
              sample: error
            status_name:
              description: Status name.
              type: str
              returned: success
              sample: Error
            last_trigger_date:
              description: When the step's last run started, ISO 8601 in UTC, or null.
              type: str
              returned: success
              sample: "2026-11-26T01:00:00.000Z"
            last_duration_seconds:
              description: Duration of the last successful run; null when unknown or the column is absent.
              type: int
              returned: success
              sample: 3600
            age_seconds:
              description: Seconds since the last trigger (negative when the date lies in the future), or null.
              type: int
              returned: success
              sample: 32400
            user_name:
              description: Who started the last run (Generate 12.0 and later), or null.
              type: str
              returned: success
              sample: admin
            stuck:
              description: Whether the step is pending or processing with nothing left to finish it.
              type: bool
              returned: success
              sample: false
            never_succeeded:
              description: Whether no run of the step ever finished (C(LastDurationInSeconds) is null).
              type: bool
              returned: success
              sample: false
        failed_steps:
          description: Type codes of the failed or stuck steps.
          type: list
          elements: str
          returned: success
          sample: ["rds"]
        running_steps:
          description: Type codes of the steps whose migration is running (with Hangfire, a running job of their
            type; else processing within O(stuck_after)).
          type: list
          elements: str
          returned: success
          sample: []
        queued_steps:
          description: Type codes of the steps whose migration waits to run (with Hangfire, a queued job of their
            type; else pending within O(stuck_after)).
          type: list
          elements: str
          returned: success
          sample: []
        hung_steps:
          description: Type codes of the steps whose running job is older than O(stuck_after); never reset.
          type: list
          elements: str
          returned: success
          sample: []
        orphaned_jobs:
          description: Ids of the migration jobs left C(Processing) on a dead server while no server is alive;
            each runs again when a background app starts.
          type: list
          elements: int
          returned: success
          sample: [1042]
        decided_by:
          description: What decided, V(hangfire) (Hangfire's jobs and servers) or V(age) (C(LastTriggerDate)
            against O(stuck_after)).
          type: str
          returned: success
          sample: hangfire
          version_added: 1.1.0
        evidence:
          description: The same as RV(ansible_facts.generate_migrations.decided_by), its name in 1.0.0. Deprecated,
            to be removed in 2.0.0.
          type: str
          returned: success
          sample: hangfire
        stuck_after:
          description: The O(stuck_after) used, given or Generate's timeout for the installed version.
          type: int
          returned: success
          sample: 300000
        hangfire:
          description: What Hangfire's tables showed.
          type: dict
          returned: success
          contains:
            available:
              description: Whether Hangfire's tables were read and decided.
              type: bool
              returned: success
              sample: true
            reason:
              description: Why they were not, or null.
              type: str
              returned: success
              sample: "HangFire.Job, HangFire.State, HangFire.Server not found"
            servers:
              description: Hangfire's servers (running background apps).
              type: list
              elements: dict
              returned: success
              sample: [{"id": "web01:4312:1f0e", "last_heartbeat": "2026-11-26T09:59:40.000Z", "alive": true}]
              contains:
                id:
                  description: The server id.
                  type: str
                  returned: success
                last_heartbeat:
                  description: Its last heartbeat, ISO 8601 in UTC.
                  type: str
                  returned: success
                alive:
                  description: Whether it beat within O(hangfire_server_timeout).
                  type: bool
                  returned: success
            jobs:
              description: Generate's migration jobs that are not finished (not C(Succeeded), C(Failed) or C(Deleted)).
              type: list
              elements: dict
              returned: success
              sample: [{"id": 1042, "method": "ExecuteSqlBasedMigration", "type_code": "report", "state": "Processing",
                        "since": "2026-11-26T01:00:00.000Z", "server_id": "web01:4312:1f0e", "status": "running",
                        "hung": false}]
              contains:
                id:
                  description: Hangfire's job id.
                  type: int
                  returned: success
                method:
                  description: The job's method (C(ExecuteSqlBasedMigration), C(MarkReportAsComplete), ...).
                  type: str
                  returned: success
                type_code:
                  description: The migration type the job belongs to, or null.
                  type: str
                  returned: success
                state:
                  description: Hangfire's state name.
                  type: str
                  returned: success
                since:
                  description: When the job entered that state, ISO 8601 in UTC.
                  type: str
                  returned: success
                server_id:
                  description: The server a C(Processing) job runs on, or null.
                  type: str
                  returned: success
                status:
                  description: V(running), V(queued) or V(orphaned).
                  type: str
                  returned: success
                hung:
                  description: Whether the job is running for longer than O(stuck_after).
                  type: bool
                  returned: success
        reports_blocked:
          description: Whether Generate's report pages refuse to show reports, by their own rule (metadata status
            first, then the C(report) step).
          type: bool
          returned: success
          sample: true
        reports_blocked_reason:
          description: The message the report pages show instead of reports, or null. The module never changes
            the metadata status; it reports it.
          type: str
          returned: success
          sample: "The migration must be run prior to viewing reports."
        locked_reports:
          description: Report codes held locked (C(IsLocked = 1)) in C(GenerateReports), the selection a C(report)
            run processes; null when the table is absent or cannot be read.
          type: list
          elements: str
          returned: success
          sample: ["c002", "c089"]
        last_errors:
          description: Newest history lines of each failed step since its last trigger, at most
            O(history_lines) per step, newest first.
          type: list
          elements: dict
          returned: success
          sample: [{"type_code": "rds", "date": "2026-11-26T01:20:00.000Z",
                    "message": "RDS Migration Complete - either due to error or cancellation"}]
          contains:
            type_code:
              description: Type code of the step.
              type: str
              returned: success
              sample: rds
            date:
              description: Date of the line, ISO 8601 in UTC.
              type: str
              returned: success
              sample: "2026-11-26T01:20:00.000Z"
            message:
              description: The history message.
              type: str
              returned: success
              sample: "RDS Migration Complete - either due to error or cancellation"
        database_version:
          description: Generate's database version from GenerateConfigurations, or null.
          type: str
          returned: success
          sample: "13.1"
        metadata_status:
          description: Generate's metadata status (C(OK), C(FAILED), C(PROCESSING)) from GenerateConfigurations,
            or null.
          type: str
          returned: success
          sample: OK
        checked_at:
          description: When the check ran, ISO 8601 in UTC.
          type: str
          returned: success
          sample: "2026-11-26T10:00:00.000Z"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ceds.generate.plugins.module_utils import (
    connection,
    data_migrations,
)


def main():
    module = AnsibleModule(argument_spec=data_migrations.argument_spec(), supports_check_mode=True,
                           **data_migrations.argument_rules())
    connection.ensure_required_libs(module)
    result, secrets = data_migrations.execute(module.params, module.check_mode)
    connection.finish(module, result, secrets)


if __name__ == "__main__":
    main()
