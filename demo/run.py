"""The demo: a Generate database in the state of the troubleshooting page, checked and reset by the module.

Run it with ./dev demo. It builds a SQLite demo database in a temporary
folder, then runs ceds.generate.data_migrations through ansible-playbook:
a status check, a dry run of the reset (--check --diff), the reset, and a
second reset that changes nothing. It removes what it made when done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import ansible_run  # noqa: E402
import generate_db  # noqa: E402

PLAYBOOK = """
- name: Check and reset the demo Generate database
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Reset failed migration steps
      ceds.generate.data_migrations:
        connection_string: "DRIVER={{SQLite3}};DATABASE={path}"
        schema: main
        state: "{{{{ state }}}}"
        audit_note: demo
      register: migrations

    - name: Show what the module found
      ansible.builtin.debug:
        msg:
          - "{{{{ migrations.msg }}}}"
          - "state now: {{{{ migrations.ansible_facts.generate_migrations.state }}}}"
"""


def main():
    workdir = tempfile.mkdtemp(prefix="ceds-demo-")
    try:
        path = os.path.join(workdir, "generate.db")
        database = generate_db.sqlite_database(path)
        database.seed(
            [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)],
            history=[("ods", 7000, "Error in App.Migrate_Data: deadlock victim")],
        )
        playbook = os.path.join(workdir, "demo.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            handle.write(PLAYBOOK.format(path=path))
        inventory = os.path.join(workdir, "inventory.ini")
        with open(inventory, "w", encoding="utf-8") as handle:
            handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        env = ansible_run.ansible_env(workdir=workdir)
        env.pop("ANSIBLE_CALLBACKS_ENABLED")
        steps = [
            ("Status", ["-e", "state=status"]),
            ("Dry run of the reset", ["-e", "state=reset", "--check", "--diff"]),
            ("Reset", ["-e", "state=reset", "--diff"]),
            ("Reset again: nothing to do", ["-e", "state=reset"]),
        ]
        for title, args in steps:
            print("\n#### %s" % title, flush=True)
            subprocess.run(["ansible-playbook", "-i", inventory, playbook] + args, env=env, check=True,
                           stdin=subprocess.DEVNULL)
        print("\nDemo database now: %s" % database.statuses())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
