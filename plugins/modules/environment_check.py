#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: environment_check
short_description: Check one CEDS Generate environment as the playbooks do, in one task
version_added: 1.1.0
description:
  - Runs every check of one Generate environment in the order the playbooks give them, in one task, and fails
    with one line per failed check. It is the one task per environment of C(playbooks/migration_status.yml) and
    C(playbooks/reset_migrations.yml), which pass it the inventory's variables.
  - In order, each only when it applies.
  - B(Inventory), none of O(empty_variables) may be given.
  - B(Rollout), no environment may be named in O(held_back_by).
  - B(Apps), the probes of M(ceds.generate.app_status) at O(web_url) and O(background_url) (when the web app fails,
    the background app on its own).
  - B(Hung runs) (with O(state=reset) and O(cancel_hung)), M(ceds.generate.migration_run) cancels the runs whose job
    is hung.
  - B(Database), M(ceds.generate.data_migrations) with O(state), which resets only when the app checks passed (a
    failed app check holds the reset back, and the database is then only read).
  - B(Re-run) (with O(state=reset) and O(rerun), when steps were reset), M(ceds.generate.migration_run) runs
    Generate's own migration of them.
  - B(Web app), the report pages must see the report step as the database has it at the end, and C(success) after
    a reset.
  - B(Report pages), they must not be blocked.
  - The checks that are off cost nothing, and those that run do in Ansible's worker process, on the controller.
    When the environment is reached over another connection (the inventory sets C(ansible_host) or
    C(ansible_connection)), the database check runs as a M(ceds.generate.data_migrations) module process on the
    host, and a host that cannot be reached is reported as such.
  - The result holds each check's own result under the name the summary reads (RV(app_probes),
    RV(background_probe), RV(cancel_hung), RV(migration), RV(rerun), RV(web_status)), and sets the fact
    C(generate_migrations) from the database check.
author:
  - ceds.generate contributors (@ceds-generate-ops)
options:
  web_url:
    description:
      - Base URL of the Generate web app; unset, the web app is not checked.
    type: str
  background_url:
    description:
      - Base URL of the background app (Hangfire); unset, it is not checked. O(cancel_hung) and O(rerun) send
        their requests to it.
    type: str
  validate_certs:
    description:
      - Verify the apps' TLS certificates. Set V(false) only for apps with self-signed certificates.
    type: bool
    default: true
  empty_variables:
    description:
      - The inventory's connection variables that are set but empty for this environment (an environment lookup
        of an unset variable gives an empty value). When any is given, nothing else is checked and the task fails
        naming them.
    type: list
    elements: str
    default: []
  held_back_by:
    description:
      - The earlier environments whose failure holds this one back (C(generate_stop_before_prod)). When any is
        given, nothing else is checked and the task fails naming them.
    type: list
    elements: str
    default: []
  cancel_hung:
    description:
      - With O(state=reset), cancel first the runs whose job is hung, through Generate's background app, as
        M(ceds.generate.migration_run) with C(state=cancel) does for the types ods, rds and report. A failed
        cancel fails the task before the database is read.
    type: dict
    suboptions:
      poll: &poll
        description: As M(ceds.generate.migration_run)'s option of that name.
        type: int
        default: 30
      timeout: &timeout
        description: As M(ceds.generate.migration_run)'s option of that name.
        type: int
  rerun:
    description:
      - With O(state=reset), after steps were reset, run Generate's own migration of them and wait for it, as
        M(ceds.generate.migration_run) does.
    type: dict
    suboptions:
      types:
        description: As M(ceds.generate.migration_run)'s option of that name; by default the types of the reset
          steps.
        type: list
        elements: str
      reports:
        description: As M(ceds.generate.migration_run)'s option of that name.
        type: list
        elements: str
        default: []
      start_timeout:
        description: As M(ceds.generate.migration_run)'s option of that name.
        type: int
        default: 120
      poll: *poll
      timeout: *timeout
      http_timeout:
        description: As M(ceds.generate.migration_run)'s option of that name.
        type: int
        default: 30
extends_documentation_fragment:
  - ceds.generate.connection
  - ceds.generate.hangfire
  - ceds.generate.reset
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ceds.generate.attributes.in_the_worker
attributes:
  action:
    details: The action plugin runs the checks in the worker process, the database check as a module process
      when the environment is reached over another connection.
  check_mode:
    details: Nothing is written and no request that acts is sent; each check says what it would do.
  facts:
    description: Sets the fact C(generate_migrations) from the database check, as M(ceds.generate.data_migrations)
      does.
    support: full
seealso:
  - module: ceds.generate.app_status
  - module: ceds.generate.data_migrations
  - module: ceds.generate.migration_run
"""

EXAMPLES = r"""
- name: "Environment: check the apps and the database"
  ceds.generate.environment_check:
    server: sql01.example.org
    username: generate_status
    password: "{{ generate_db_password }}"
    web_url: https://generate.example.org
    background_url: https://generate-bg.example.org
  register: environment_check
"""

RETURN = r"""
held_back:
  description: Whether O(held_back_by) held the environment back.
  returned: always
  type: bool
app_probes:
  description: What M(ceds.generate.app_status) returned for the web and background apps.
  returned: when O(web_url) or O(background_url) is given and the environment was not refused first
  type: dict
background_probe:
  description: What M(ceds.generate.app_status) returned for the background app on its own, after a failed web app.
  returned: when the web app failed before the background app was probed
  type: dict
cancel_hung:
  description: What M(ceds.generate.migration_run) returned for the cancel.
  returned: with O(state=reset) and O(cancel_hung)
  type: dict
migration:
  description: What M(ceds.generate.data_migrations) returned.
  returned: when the environment was not refused or stopped before the database check
  type: dict
rerun:
  description: What M(ceds.generate.migration_run) returned for the re-run.
  returned: with O(state=reset) and O(rerun), when steps were reset
  type: dict
web_status:
  description: What M(ceds.generate.app_status) returned when it compared the report pages with the database.
  returned: when the web app answered and the database was read
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ceds.generate.plugins.module_utils import (
    connection,
    data_migrations,
    environment_check,
)


def main():
    module = AnsibleModule(argument_spec=environment_check.argument_spec(), supports_check_mode=True,
                           **environment_check.argument_rules())
    connection.ensure_required_libs(module)

    def read_database(options):
        return data_migrations.execute(options, module.check_mode)
    check = environment_check.EnvironmentCheck(module.params, module.check_mode, None, read_database, module.log)
    connection.finish(module, check.run(), check.secrets)


if __name__ == "__main__":
    main()
