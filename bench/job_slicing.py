# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 3, several controllers: migration_status.yml in AWX job slices, run at the same time.

AWX slices a job by sorting the inventory's hosts by name and giving slice k
of n every n-th host from the k-th; each slice is a separate ansible-playbook
run with an inventory that holds only its hosts (the groups and their
variables stay). The slices share one reports folder, as on a shared volume;
each writes its own summary (named by its job id), and a workflow step,
playbooks/merge_summaries.yml, merges them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time

from bench.fleet_scaling import STATUS_PLAYBOOK, TIMEOUT_PER_ENVIRONMENT, TIMEOUT_SECONDS
from bench.playbook_runs import ROOT

MERGE_PLAYBOOK = os.path.join(ROOT, "playbooks", "merge_summaries.yml")

# AWX's job ids of the slices: any number, passed as AWX passes it.
FIRST_JOB_ID = 1001


def awx_slices(names, count):
    """AWX's slicing: hosts sorted by name, slice k (1-based) takes every count-th host from the (k-1)-th."""
    ordered = sorted(names)
    return [ordered[number::count] for number in range(count)]


def summary_text(output):
    """The part of ansible-playbook's output that the summary task printed."""
    start = output.find("TASK [Show the summary]")
    if start < 0:
        return ""
    ends = [found for found in (output.find(mark, start + 10) for mark in ("TASK [", "PLAY [", "PLAY RECAP"))
            if found > 0]
    return output[start:min(ends, default=len(output))]


def report_files(folder):
    """(file name, environments it lists) of each JSON summary in the reports folder."""
    found = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                data = json.load(handle)
            found.append((name, sorted(row["environment"] for row in data.get("environments", []))))
    return found


def measure(ansible, fleet, size, count, forks):
    """Run the first ``size`` environments in ``count`` slices at once; check that each is handled once."""
    shutil.rmtree(fleet.reports_dir, ignore_errors=True)
    environments = dict((environment.name, environment) for environment in fleet.environments[:size])
    slices = awx_slices(environments, count)
    results = []
    started = time.perf_counter()
    with contextlib.ExitStack() as running:
        runs = []
        for number, names in enumerate(slices, start=1):
            folder = os.path.join(ansible.workdir, "slice-%d" % number)
            os.makedirs(folder, exist_ok=True)
            inventory = fleet.write_inventory([environments[name] for name in names],
                                              os.path.join(folder, "inventory.yml"))
            runs.append((number, names, running.enter_context(ansible.start(
                STATUS_PLAYBOOK, inventory, ["--forks", str(forks), "-e", "awx_job_id=%d" % (FIRST_JOB_ID + number)],
                cwd=folder))))
        for number, names, run in runs:
            returncode = run.wait(TIMEOUT_SECONDS + TIMEOUT_PER_ENVIRONMENT * size)
            shown = sorted(set(re.findall(r"\b(env\d+)\b", summary_text(run.output))))
            results.append({"slice": number, "hosts": names, "rc": returncode, "summary_hosts": shown})
    handled = [name for result in results for name in result["hosts"]]
    merge = os.path.join(ansible.workdir, "merge-inventory.ini")
    with open(merge, "w", encoding="utf-8") as handle:
        handle.write("localhost\n")
    with ansible.start(MERGE_PLAYBOOK, merge, ["-e", "generate_reports_dir=%s" % fleet.reports_dir]) as run:
        merged_rc = run.wait(TIMEOUT_SECONDS)
    merged_path = os.path.join(fleet.reports_dir, "migration_status.json")
    merged = []
    if os.path.exists(merged_path):
        with open(merged_path, encoding="utf-8") as handle:
            merged = sorted(row["environment"] for row in json.load(handle)["environments"])
    return {
        "size": size, "count": count, "wall": time.perf_counter() - started, "slices": results,
        "each_once": sorted(handled) == sorted(environments) and len(handled) == len(set(handled)),
        "summary_per_slice": all(result["summary_hosts"] == sorted(result["hosts"]) for result in results),
        "all_ok": all(result["rc"] == 0 for result in results),
        "report_files": report_files(fleet.reports_dir),
        "merged_rc": merged_rc,
        "merged_each_once": merged == sorted(environments),
    }
