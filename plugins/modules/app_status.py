#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: app_status
short_description: Check the CEDS Generate web and background apps with read-only GETs
version_added: 1.0.0
description:
  - Checks that a CEDS Generate install's web app and background app answer, with read-only HTTP GETs only.
  - "Web app: C(GET {web_url}/api/app/about/getvers) must answer HTTP 200 with JSON naming the database version
    (C(successMessage))."
  - "Background app: C(GET {background_url}/), the Hangfire dashboard, must answer HTTP 200."
  - With O(report_status=true), also C(GET {web_url}/api/app/datamigrations/currentmigrationstatus), the status
    of the C(report) step as the report pages see it, returned as RV(report_migration_status).
  - The web app is checked first, then the background app; the first one that fails fails the task with one
    line naming the app, its URL, the page and the HTTP status or the connection error.
  - The background app's C(/api/DataMigration/MigrateData/...) URLs, which start or cancel migrations, are
    never requested.
  - The probes run on the controller (or execution environment) in the task's own worker process, through the
    action plugin of the same name. No module is copied or started, and no connection to the host is opened.
author:
  - ceds.generate contributors (@ceds-generate-ops)
options:
  web_url:
    description:
      - Base URL of the Generate web app, such as V(https://generate.example.org). Trailing slashes are ignored.
      - Not given, the web app is not checked.
    type: str
  background_url:
    description:
      - Base URL of the Generate background app (Hangfire). Trailing slashes are ignored.
      - Not given, the background app is not checked.
    type: str
  report_status:
    description:
      - Also read the migration status the report pages see, from the web app. Needs O(web_url).
    type: bool
    default: false
  database_report_status:
    description:
      - The status code of the report step in the database, for example from the fact C(generate_migrations).
      - When given, the task fails unless the report pages see the same status. Needs O(report_status).
    type: str
  after_reset:
    description:
      - A reset was just applied, so the report pages must show C(success). Needs O(report_status).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each request.
    type: int
    default: 10
  validate_certs:
    description:
      - Verify the apps' TLS certificates. Set V(false) only for apps with self-signed certificates.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ceds.generate.attributes.in_the_worker
attributes:
  action:
    details: The action plugin runs the probes in the worker process; the module runs the same code elsewhere.
  check_mode:
    details: The probes only read, so they run in check mode too, with the same result.
seealso:
  - module: ceds.generate.data_migrations
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Check the web and background apps
  ceds.generate.app_status:
    web_url: https://generate.example.org
    background_url: https://generate-jobs.example.org

- name: Read what the report pages see
  ceds.generate.app_status:
    web_url: https://generate.example.org
    report_status: true
  register: web_report

- name: Compare it with the database
  ansible.builtin.assert:
    that: web_report.report_migration_status == 'success'

- name: Fail unless the report pages agree with the database
  ceds.generate.app_status:
    web_url: https://generate.example.org
    report_status: true
    database_report_status: "{{ generate_migrations.steps | selectattr('type_code', 'eq', 'report') | map(attribute='status_code') | first }}"
"""

RETURN = r"""
changed:
  description: Always false; the probes change nothing.
  returned: always
  type: bool
  sample: false
msg:
  description: On failure, one line naming the app, its URL, the page and the HTTP status or connection error.
  returned: failed
  type: str
  sample: "web app https://generate.example.org: HTTP 500 from /api/app/about/getvers: Database connection failed"
web:
  description:
    - The web app's answer. On failure, returned when the web app was the one that failed (with RV(web.ok=false)),
      or when it answered before the background app failed.
  returned: when web_url is given
  type: dict
  sample: {"url": "https://generate.example.org", "status": 200, "ok": true, "database_version": "13.1"}
  contains:
    url:
      description: The base URL probed, without trailing slashes.
      returned: always
      type: str
      sample: https://generate.example.org
    status:
      description: HTTP status of the last answer; null when no answer came.
      returned: always
      type: int
      sample: 200
    ok:
      description: Whether the web app answered every probe as expected.
      returned: always
      type: bool
      sample: true
    database_version:
      description: The database version the web app names (C(successMessage) of C(/api/app/about/getvers)).
      returned: success
      type: str
      sample: "13.1"
background:
  description: The background app's answer. On failure, returned when the background app was the one that failed.
  returned: when background_url is given and the web app, if given, answered
  type: dict
  sample: {"url": "https://generate-jobs.example.org", "status": 200, "ok": true}
  contains:
    url:
      description: The base URL probed, without trailing slashes.
      returned: always
      type: str
      sample: https://generate-jobs.example.org
    status:
      description: HTTP status of the answer; null when no answer came.
      returned: always
      type: int
      sample: 200
    ok:
      description: Whether the dashboard answered HTTP 200.
      returned: always
      type: bool
      sample: true
report_migration_status:
  description:
    - Status code of the C(report) step as the report pages see it (C(reportMigrationStatusCode)), such as
      C(success), C(pending) or C(error); null when Generate has no report step.
  returned: success and report_status is true
  type: str
  sample: success
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ceds.generate.plugins.module_utils import app_client


def main():
    module = AnsibleModule(argument_spec=app_client.argument_spec(), supports_check_mode=True,
                           **app_client.argument_rules())
    # The failure is reported after its except block has ended, so the result carries no traceback.
    failure = None
    try:
        result = app_client.probe(module.params)
    except app_client.RequestFailed as exc:
        failure = exc
    if failure is not None:
        module.fail_json(msg="%s" % failure, **failure.result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
