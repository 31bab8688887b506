# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options that say how Hangfire's state and a step's age are read, shared by the modules that decide
    whether a migration is running, queued, hung or orphaned."""

    DOCUMENTATION = r"""
options:
  stuck_after:
    description:
      - Seconds a run may take before it counts as too long.
      - With Hangfire's state read, a running job older than this is reported as hung (never reset). Without it,
        a C(pending) or C(processing) step last triggered longer ago than this is stuck.
      - When not set, Generate's own command timeout for a migration on the installed version
        (C(DatabaseVersion) in C(GenerateConfigurations)) - 30000 seconds before 13.2, 300000 seconds (83 hours)
        from 13.2 on or when the version is unknown. The fact C(stuck_after) shows the value used.
      - V(0) turns the age rule off; a C(processing) step then always counts as running without Hangfire.
      - At most 2592000 (30 days, as long as Generate keeps its history).
    type: int
  hangfire:
    description:
      - Whether to decide from Hangfire's jobs and servers in O(hangfire_schema).
      - V(auto) reads them when they exist and can be read, and otherwise decides by age; a login that lacks
        C(SELECT) on them gets a warning naming the grant.
      - V(required) fails the run, with nothing written, when they cannot be read.
      - V(ignore) decides by age only. Without readable Hangfire tables, a running or queued job cannot be seen, and
        only the step's own status holds a reset or a trigger back.
    type: str
    choices: [auto, required, ignore]
    default: auto
  hangfire_schema:
    description:
      - Schema of Hangfire's tables (C(Job), C(State), C(Server)) in the Generate database.
      - Must be a plain identifier, like O(schema).
    type: str
    default: HangFire
  hangfire_server_timeout:
    description:
      - Seconds a Hangfire server may be silent and still count as alive (30 to 86400).
      - The default is Hangfire's own C(ServerTimeout).
      - The alias O(server_timeout) is deprecated and will be removed in 2.0.0.
    type: int
    default: 300
    aliases: [server_timeout]
"""
