#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: run_summary
short_description: Write the summary of a run of the playbooks, and publish it for AWX workflows
version_added: 1.1.0
description:
  - Writes a run's summary to O(folder) as C(<name>.json) and C(<name>.md), each replaced in one step so that a
    reader never sees half a file, and publishes it as the custom stat C(generate_summary) (as
    M(ansible.builtin.set_stats) with C(per_host=false) and C(aggregate=false)), which AWX passes to the next
    step of a workflow.
  - The playbooks of this collection call it at the start of every batch of environments and at the end of the
    run. It is one task, in Ansible's worker process on the controller; M(ansible.builtin.copy) and
    M(ansible.builtin.template) would start module processes for the same files.
  - The folder is created when missing (mode C(0755)); the files get mode C(0644).
  - This is an action plugin only; the files are always written on the controller (or the execution
    environment), whatever the task's host.
author:
  - ceds.generate contributors (@ceds-generate-ops)
options:
  summary:
    description:
      - The summary, written as JSON (keys sorted, indented as M(ansible.builtin.to_nice_json) does) and published.
    type: dict
    required: true
  markdown:
    description:
      - The summary as Markdown, written as it is (with a final newline).
    type: str
    required: true
  folder:
    description:
      - The reports folder.
    type: path
    required: true
  name:
    description:
      - The files' name, without its extension.
    type: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ceds.generate.attributes.in_the_worker
attributes:
  check_mode:
    details: In check mode nothing is written; the summary is still published.
  platform:
    details: The files are written on the controller.
seealso:
  - module: ansible.builtin.set_stats
"""

EXAMPLES = r"""
- name: Write the summary and publish it
  ceds.generate.run_summary:
    summary: "{{ run_summary }}"
    markdown: "{{ lookup('ansible.builtin.template', 'summary.md.j2') }}"
    folder: "{{ playbook_dir }}/reports"
    name: migration_status
  run_once: true
"""

RETURN = r"""
files:
  description: The files written; none in check mode.
  returned: success
  type: list
  elements: str
  sample: [/runner/artifacts/reports/migration_status.json, /runner/artifacts/reports/migration_status.md]
"""
