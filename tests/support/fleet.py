"""A fleet of Generate environments for the playbooks: databases, stand-in apps and their inventory.

Each environment is one inventory host of group ``generate`` (in a tier group
such as ``dev``), with a Generate test database and, unless told otherwise,
a stand-in web and background app reading it. The demo and the tests build
their fleets here, so both run the playbooks the same way.
"""

from __future__ import annotations

import os
import sys

import yaml

from . import ansible_run
from .standin_app import StandinGenerate

ROOT = ansible_run.ROOT
PLAYBOOKS = os.path.join(ROOT, "playbooks")


class Environment:
    """One Generate environment: its database, its stand-in apps and its inventory variables."""

    def __init__(self, name, tier, database, apps=True, background=True, version=None):
        """``version``: the stand-in's Generate version or version line (generate_replica.VERSION_LINES); None: the
        database's."""
        self.name = name
        self.tier = tier
        self.database = database
        # An environment without a background app has no Hangfire server beating in its database.
        self.standin = StandinGenerate.for_database(database, beats=background, version=version) if apps else None
        self.background = background
        self.variables = {}

    def inventory_variables(self):
        """The generate_* variables of this environment, as a user would write them."""
        variables = {}
        options = self.database.options
        if options:
            variables.update({
                "generate_db_server": options["server"],
                "generate_db_port": options["port"],
                "generate_db_database": options["database"],
                "generate_db_username": options["username"],
                "generate_db_password": options["password"],
                "generate_db_driver": options["driver"],
            })
            # The driver keywords the test support passes for this kind of database (psqlODBC's), as a user would.
            connect_params = self.database.module_args().get("connect_params")
            if connect_params:
                variables["generate_db_connect_params"] = connect_params
        else:
            variables["generate_db_connection_string"] = self.database.connection_string
        if self.database.schema != "App":
            variables["generate_db_schema"] = self.database.schema
        if self.database.hangfire_schema != "HangFire":
            variables["generate_hangfire_schema"] = self.database.hangfire_schema
        if self.standin is not None:
            variables["generate_web_url"] = self.standin.web_url
            if self.background:
                variables["generate_background_url"] = self.standin.background_url
        variables.update(self.variables)
        # A variable set to None here is left out of the inventory.
        return dict((name, value) for name, value in variables.items() if value is not None)


class Fleet:
    """Generate environments grouped by tier, their stand-in apps, and an inventory file for them."""

    def __init__(self, folder):
        self.folder = folder
        self.environments = []
        self.group_variables = {"generate_reports_dir": os.path.join(folder, "reports")}
        # False: the inventory sets no interpreter, and the playbooks choose it.
        self.interpreter = True

    @property
    def reports_dir(self):
        """Where the playbooks write their summaries."""
        return self.group_variables["generate_reports_dir"]

    def add(self, name, tier, database, version=None, **kwargs):
        """Add an environment (``version``: its stand-in's Generate version, None: the database's); its stand-in
        apps start at once. Return the Environment."""
        environment = Environment(name, tier, database, version=version, **kwargs)
        if environment.standin is not None:
            environment.standin.start()
        self.environments.append(environment)
        return environment

    def __getitem__(self, name):
        return next(environment for environment in self.environments if environment.name == name)

    def write_inventory(self, environments=None, path=None):
        """Write the inventory (YAML) of ``environments`` (default: all) to ``path`` (default: inventory.yml in
        the fleet's folder) and return its path. A part of the fleet keeps the groups and their variables, as AWX
        hands a job slice to ansible-playbook."""
        tiers = {}
        for environment in self.environments if environments is None else environments:
            tiers.setdefault(environment.tier, {"hosts": {}})["hosts"][environment.name] = (
                environment.inventory_variables())
        group = dict(self.group_variables, ansible_connection="local")
        if self.interpreter:
            group["ansible_python_interpreter"] = sys.executable
        inventory = {"generate": {"vars": group, "children": tiers}}
        path = path or os.path.join(self.folder, "inventory.yml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)
        return path

    def run(self, playbook, *args, **kwargs):
        """Run playbooks/<playbook> over the fleet through ansible-playbook; return the ansible_run.Run."""
        kwargs.setdefault("workdir", self.folder)
        return ansible_run.run_playbook(os.path.join(PLAYBOOKS, playbook), self.write_inventory(), args, **kwargs)

    def stop(self):
        """Stop every stand-in app, the others too when one fails to stop (the first failure is raised after)."""
        failure = None
        for environment in self.environments:
            if environment.standin is not None:
                try:
                    environment.standin.stop()
                except Exception as exc:  # pylint: disable=broad-except
                    # Raised once the others are stopped.
                    failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
