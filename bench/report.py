# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's report: a table on the console and docs/benchmarks.md, from what this run measured only."""

from __future__ import annotations

from tests.support import scenarios
from bench.playbook_runs import ms

# What each ratio should stay under; a target, not a measurement.
TARGETS = {"per_task": 1.25, "versus_tool": 1.0, "fleet": 1.0, "fleet_reset": 1.2, "growth": 1.1}
PATHS = (("worker", "status in the worker"), ("module_process", "status as a module process"))


def times_ratio(value):
    """A ratio's median with its least and greatest, over the rounds."""
    return "%.2fx (%.2fx to %.2fx)" % (value["median"], value["min"], value["max"])


def seconds_spread(value):
    """A time's median with its least and greatest, over the runs."""
    return "%.1f s (%.1f to %.1f)" % (value["median"], value["min"], value["max"])


def verdict(value, target):
    """Whether a median ratio meets its target."""
    return "met" if value <= target else "MISSED"


def summary_rows(report):
    """The results table: one row per figure that this run measured."""
    rows = []
    per_task = report.get("per_task")
    if per_task:
        for path, title in PATHS:
            ratio = per_task["ratios"][path]["task"]
            rows.append(["1. per task, %s vs ping" % title, ms(per_task["times"][path]["task"]),
                         ms(per_task["times"]["ping"]["task"]), times_ratio(ratio), "<= %.2fx" % TARGETS["per_task"],
                         verdict(ratio["median"], TARGETS["per_task"])])
    versus = report.get("versus_tool")
    if versus:
        ratio = versus["ratio"]["task"]
        rows.append(["2. reset vs postgresql_query", ms(versus["times"]["reset"]["task"]),
                     ms(versus["times"]["postgresql_query"]["task"]), times_ratio(ratio),
                     "<= %.2fx" % TARGETS["versus_tool"], verdict(ratio["median"], TARGETS["versus_tool"])])
    fleet = report.get("fleet")
    if fleet:
        for row in fleet["rows"]:
            for key, ratio, title, target in (("status", "ratio", "migration_status.yml", "fleet"),
                                              ("reset", "ratio_reset", "reset_migrations.yml, nothing to reset",
                                               "fleet_reset")):
                rows.append(["3. %s, %d environments" % (title, row["size"]), "%.1f s" % row[key]["median"],
                             "%.1f s (ping)" % row["ping"]["median"], times_ratio(row[ratio]),
                             "<= %.2fx" % TARGETS[target], verdict(row[ratio]["median"], TARGETS[target])])
        growth = fleet["growth"]
        if growth:
            for key, title in (("status", "migration_status.yml"), ("reset", "reset_migrations.yml")):
                rows.append(["3. %s, time per environment, %d vs %d" % (title, growth["size"], growth["base"]),
                             "%.2fx" % growth[key], "%.2fx (ping)" % growth["ping"], "",
                             "<= %.2fx" % TARGETS["growth"], verdict(growth[key], TARGETS["growth"])])
    for title, ok in (report.get("statements_count") or {}).get("verdicts", ()):
        rows.append(["4. " + title, "", "", "", "", "met" if ok else "MISSED"])
    process = report.get("module_process")
    if process:
        top = sorted(process["rows"], key=lambda item: -item[1])[:2]
        rows.append(["5. module process", ms(process["process"]), "", "", "",
                     "largest: %s" % ", ".join("%s %s" % (name, ms(value)) for name, value in top)])
    return rows


def print_table(rows):
    """The results table on the console."""
    header = ["part", "measured", "baseline", "ratio (median, min to max)", "target", "verdict"]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))


def timing_table(rows, ratio_rows):
    """Task and run times (medians, the best task time), then each ratio: median over rounds, min and max."""
    lines = ["| | task (median) | task (best) | whole run (median) |", "|---|---|---|---|"]
    for label, values in rows:
        lines.append("| %s | %s | %s | %s |" % (label, ms(values["task"]), ms(values["task_min"]), ms(values["wall"])))
    for label, values in ratio_rows:
        lines.append("| %s | %s | | %s |" % (label, times_ratio(values["task"]), times_ratio(values["wall"])))
    return lines


def per_task_section(per_task):
    """Part 1: both execution paths of data_migrations against ping."""
    found = per_task["times"]
    return [
        "## 1. Per-task cost versus the floor", "",
        "`ceds.generate.data_migrations` (`state: status`, one healthy environment) on both of its execution paths, "
        "against `ansible.builtin.ping`, all on the local host: %d rounds, each running the three once, the order "
        "reversed every other round. **In the worker** is the default on a local connection: the action plugin runs "
        "the module's code in Ansible's worker. **As a module process** is the host with `ansible_python_interpreter` "
        "set to a wrapper script that execs the same Python: the action plugin then sends and runs the module's "
        "payload as on any other host (checked before timing: `-vvvv` shows `%s` on that path only). `ping` always "
        "starts a module process, with the Python itself as interpreter." % (per_task["rounds"], per_task["payload"]),
        "",
        "The task time is the executor's, from the worker's start to the result (callback "
        "`bench/callback_plugins/task_times.py`); the run time is the whole `ansible-playbook` command.", "",
    ] + timing_table(
        [("`ansible.builtin.ping`", found["ping"])] + [("`data_migrations` %s" % title, found[path])
                                                       for path, title in PATHS],
        [("ratio, %s / ping" % title, per_task["ratios"][path]) for path, title in PATHS])


def versus_section(versus):
    """Part 2: the reset against the seed's UPDATE through postgresql_query."""
    found = versus["times"]
    return [
        "## 2. Versus the tool an operator would otherwise use", "",
        "The seed's `%s` through `community.postgresql.postgresql_query` against the module's `state: reset` on the "
        "same failed database (ods `error`, rds and report `pending`, the shared scenario `FAILED`), put back before "
        "every run; %d rounds, alternating. The module also reads the status codes and Hangfire's state, plans, "
        "resets only the failed rows with a compare-and-set and writes one audit line per step."
        % (scenarios.SEED_UPDATE, versus["rounds"]), "",
    ] + timing_table(
        [("`postgresql_query` (seed UPDATE)", found["postgresql_query"]), ("`data_migrations` reset", found["reset"]),
         ("`data_migrations` reset, psqlODBC defaults", found["reset_defaults"])],
        [("ratio, reset / postgresql_query", versus["ratio"]),
         ("ratio, reset / reset with psqlODBC defaults", versus["ratio_options"])])


def fleet_section(fleet, pipelining):
    """Part 3: the fleet sizes, where the time goes at the largest, and pipelining."""
    lines = [
        "## 3. Fleet scaling", "",
        "`playbooks/migration_status.yml`, and `playbooks/reset_migrations.yml` with nothing to reset, over N "
        "environments (one database each in the same cluster, healthy; web and background checks against a "
        "stand-in app per environment, `tests/support/standin_app.py`), `--forks %d`, against the same inventory "
        "running only `ansible.builtin.ping`, and one `data_migrations` status task per environment. Rounds per "
        "size: %s, each running the four once, alternating (a smaller fleet, whose runs are short, runs more of "
        "them). Each time is the median with the least and the greatest in "
        "brackets; a ratio is the ratio within a round, its median over the rounds and its range. Host tasks count "
        "every task result of an environment (a task run once for the batch counts once)."
        % (fleet["forks"], ", ".join("%d at %d" % (row["rounds"], row["size"])
                                     for row in fleet["rows"])), "",
        "| environments | ping | one module task | migration_status.yml | reset_migrations.yml | status per "
        "environment | host tasks per environment (skipped), status / reset / ping | status / ping | reset / ping | "
        "module task / ping |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in fleet["rows"]:
        lines.append("| %d | %s | %s | %s | %s | %s | %.2f (%.2f) / %.2f (%.2f) / %.2f | %s | %s | %s |" % (
            row["size"], seconds_spread(row["ping"]), seconds_spread(row["module"]), seconds_spread(row["status"]),
            seconds_spread(row["reset"]), ms(row["status"]["median"] / row["size"]),
            row["status_tasks"] / row["size"], row["status_skipped"] / row["size"], row["reset_tasks"] / row["size"],
            row["reset_skipped"] / row["size"], row["ping_tasks"] / row["size"], times_ratio(row["ratio"]),
            times_ratio(row["ratio_reset"]), times_ratio(row["ratio_module"])))
    single = fleet.get("single")
    if single:
        lines += ["", "A single environment (one run of each): %d host tasks for migration_status.yml (%d skipped), "
                  "%d for reset_migrations.yml (%d skipped), %d for ping. The tasks of migration_status.yml, in "
                  "order: %s." % (single["status"]["tasks"], single["status"]["skipped"], single["reset"]["tasks"],
                                  single["reset"]["skipped"], single["ping"]["tasks"],
                                  "; ".join(single["status"]["names"]))]
    growth = fleet["growth"]
    if growth:
        lines += ["", "Growth: the median time per environment at %d environments is %.2fx that at %d for "
                  "migration_status.yml and %.2fx for reset_migrations.yml (%.2fx or less is the target; 1.00x is "
                  "linear); ping: %.2fx." % (growth["size"], growth["status"], growth["base"], growth["reset"],
                                             TARGETS["growth"], growth["ping"])]
    last = fleet["rows"][-1]
    lines += ["", "Where `migration_status.yml` spends its time at %d environments (the run of median time): each "
              "task's worker time per environment, from the worker's start to its result; with %d forks several run "
              "at once." % (last["size"], fleet["forks"]), "",
              "| task | action | hosts ran | hosts skipped | per environment |", "|---|---|---|---|---|"]
    for entry in last["status_breakdown"]:
        lines.append("| %s | `%s` | %d | %d | %s |" % (entry["task"], entry["action"], entry["ran"], entry["skipped"],
                                                       ms(entry["per_environment"])))
    if pipelining:
        lines += ["", "Pipelining (`ANSIBLE_PIPELINING=True`) at %d environments, %d rounds, alternating (medians):"
                  % (pipelining["size"], pipelining["rounds"]), "",
                  "| | ping | migration_status.yml | ratio |", "|---|---|---|---|",
                  "| without | %.1f s | %.1f s | %.2fx |" % (pipelining["ping"], pipelining["status"],
                                                             pipelining["ratio"]),
                  "| with | %.1f s | %.1f s | %.2fx |" % (pipelining["ping_pipelining"],
                                                          pipelining["status_pipelining"],
                                                          pipelining["ratio_pipelining"])]
    return lines


def statements_section(found):
    """Part 4: the messages each run sent, counted on the server."""
    lines = [
        "## 4. Statements, counted on the server", "",
        "`log_statement = all` on the benchmark's databases; each line of the server log is one message the server "
        "received. Statements are the module's own SQL; the driver adds its session set-up (once per connection) "
        "and a catalog look-up per table a result's columns come from.", "",
        "| run | messages | statements | transaction control | driver set-up | driver catalog |",
        "|---|---|---|---|---|---|",
    ]
    for row in found["rows"]:
        counts = row["counts"]
        statements = ", ".join("%d %s" % (n, kind.split(": ", 1)[1]) for kind, n in sorted(counts.items())
                               if kind.startswith("statement"))
        lines.append("| %s | %d | %s | %d | %d | %d |" % (
            row["case"], row["messages"], statements or "0", counts.get("transaction control", 0),
            counts.get("driver: session set-up", 0) + counts.get("tool: session set-up", 0),
            counts.get("driver: column catalog", 0)))
    lines.append("")
    lines.extend("- %s: %s" % (title, "met" if ok else "MISSED") for title, ok in found["verdicts"])
    for row in found["rows"]:
        lines += ["", "<details><summary>%s: the server log</summary>" % row["case"], "", "```"] + row["log"] + [
            "```", "</details>"]
    return lines


def module_process_section(process, per_task):
    """Part 5: the phases of one module process."""
    lines = [
        "## 5. Where one module process spends its time", "",
        "`bench/module_profile.py` runs the module's `main()` in a fresh Python process as Ansible does (arguments "
        "through `AnsibleModule`, result through `exit_json`), with timers around each phase; medians of %d runs, "
        "`state: status` against one healthy environment." % process["runs"], "",
        "| phase | time | share of the process |", "|---|---|---|",
    ]
    for name, value in process["rows"]:
        lines.append("| %s | %.1f ms | %.0f%% |" % (name, value * 1000, 100 * value / process["process"]))
    lines.append("| **the module's process, start to exit** | **%.1f ms** | |" % (process["process"] * 1000))
    if per_task:
        found = per_task["times"]
        lines += ["", "In the executor (part 1) the status task took %s as a module process and %s in the worker, "
                  "which runs the same code from \"import pyodbc\" on without the interpreter start-up, "
                  "`ansible.module_utils.basic` or the payload; `ansible.builtin.ping` took %s." % (
                      ms(found["module_process"]["task"]), ms(found["worker"]["task"]), ms(found["ping"]["task"]))]
    return lines


def findings_section(report):
    """What this run's figures say about the psqlODBC options and where the fleet's time goes."""
    lines = []
    found = report.get("statements_count")
    if found:
        by_case = dict((row["case"], row) for row in found["rows"])
        lines += [
            "**psqlODBC options.** With its defaults psqlODBC prepares each parameterised statement on the server "
            "and wraps it in a savepoint. The benchmark's environments pass `UseServerSidePrepare=0` and "
            "`Protocol=7.4-1` in the module's `connect_params`, as the tests do (`tests/support/generate_db.py`): "
            "values are sent inline, and on an error the whole transaction rolls back, which the module does "
            "anyway.", "",
            "| run | messages with psqlODBC defaults | with those connect_params |", "|---|---|---|",
            "| reset of 3 steps | %d | %d |" % (by_case["reset of 3 steps, psqlODBC defaults"]["messages"],
                                                by_case["reset of 3 steps"]["messages"]),
            "| status, a step failed | %d | %d |" % (by_case["status, a step failed, psqlODBC defaults"]["messages"],
                                                     by_case["status, a step failed"]["messages"]),
        ]
    versus = report.get("versus_tool")
    if versus:
        lines += ["", "Time of the reset task with those connect_params / with psqlODBC defaults: %s (part 2)."
                  % times_ratio(versus["ratio_options"]["task"])]
    fleet = report.get("fleet")
    if fleet:
        last = fleet["rows"][-1]
        by_action = {}
        for entry in last["status_breakdown"]:
            by_action[entry["action"]] = by_action.get(entry["action"], 0.0) + entry["per_environment"]
        total = sum(by_action.values()) or 1.0
        lines += ["", "**Where the fleet's time goes.** At %d environments one `data_migrations` status task per "
                  "environment costs %.2fx ping and `migration_status.yml` %.2fx (medians): it runs %d host tasks "
                  "(%.1f per environment, %d of them skipped) where ping runs %d. Shares of the worker time per "
                  "environment, by action: %s." % (
                      last["size"], last["ratio_module"]["median"], last["ratio"]["median"], last["status_tasks"],
                      last["status_tasks"] / float(last["size"]), last["status_skipped"], last["ping_tasks"],
                      ", ".join("`%s` %.0f%%" % (action, 100 * value / total)
                                for action, value in sorted(by_action.items(), key=lambda item: -item[1])))]
        base = fleet["rows"][0]
        if fleet["growth"]:
            base = next(row for row in fleet["rows"] if row["size"] == fleet["growth"]["base"])
        lines += growing_tasks(base, last)
    return lines


# A task's time per environment at the largest fleet, over that at the base of the growth figure, from which it
# counts as growing faster than the fleet, and the least it must grow by: more than the noise of one busy machine.
GROWING = 1.5
GROWING_SECONDS = 0.001


def growing_tasks(base, last):
    """The tasks whose time per environment grows with the fleet: they make the run grow with its square.

    Every task counts, run once or by every environment: a task run once that looks through the whole fleet for each
    environment grows as one run by every environment that reads every environment's variables does.
    """
    if base is last:
        return []
    before = dict((entry["task"], entry["per_environment"]) for entry in base["status_breakdown"])
    growing = ["%s (%s per environment at %d, %s at %d)" % (
        entry["task"], ms(entry["per_environment"]), last["size"], ms(before[entry["task"]]), base["size"])
        for entry in last["status_breakdown"]
        if before.get(entry["task"]) and entry["per_environment"] > GROWING * before[entry["task"]]
        and entry["per_environment"] - before[entry["task"]] > GROWING_SECONDS]
    if not growing:
        return []
    return ["", "**What grows faster than the fleet.** %s. A task whose time per environment grows with the fleet "
            "typically reads every environment's variables (`hostvars`) for each environment, even when it is "
            "skipped, or, run once, looks through every environment for each environment." % "; ".join(growing)]


def slicing_section(slicing):
    """AWX job slicing: each slice's environments and summary."""
    lines = [
        "## Several controllers: AWX job slicing", "",
        "AWX slices a job by sorting the inventory's hosts by name and giving slice k of n every n-th host from the "
        "k-th; each slice is a separate `ansible-playbook` run, possibly on another execution node, with an inventory "
        "that holds only its hosts (the groups and their variables stay). The benchmark does the same: %d "
        "environments in %d slices, run at the same time with a shared reports folder, `-e awx_job_id=<n>` as AWX "
        "passes it." % (slicing["size"], slicing["count"]), "",
        "| slice | environments | exit code | environments in its summary |", "|---|---|---|---|",
    ]
    for result in slicing["slices"]:
        lines.append("| %d | %d (%s ... %s) | %d | %d, %s |" % (
            result["slice"], len(result["hosts"]), result["hosts"][0], result["hosts"][-1], result["rc"],
            len(result["summary_hosts"]),
            "exactly its own" if result["summary_hosts"] == sorted(result["hosts"]) else "NOT its own"))
    lines += ["", "- Every environment handled by exactly one slice: %s." % ("yes" if slicing["each_once"] else "NO"),
              "- Each slice's summary lists exactly its environments: %s."
              % ("yes" if slicing["summary_per_slice"] else "NO"),
              "- All slices exited 0: %s; the %d slices took %.1f s together."
              % ("yes" if slicing["all_ok"] else "NO", slicing["count"], slicing["wall"])]
    if slicing["report_files"]:
        lines.append("- Report files in the shared reports folder afterwards: %s." % ", ".join(
            "`%s` (%d environments)" % (name, len(hosts)) for name, hosts in slicing["report_files"]))
    lines.append("- `playbooks/merge_summaries.yml` on that folder exited %d, and its `migration_status.json` lists "
                 "every environment exactly once: %s." % (slicing["merged_rc"],
                                                          "yes" if slicing["merged_each_once"] else "NO"))
    return lines


def markdown(report):
    """docs/benchmarks.md: how the figures were measured, the results table, then each part."""
    lines = [
        "# Benchmarks", "",
        "Generated by `./dev bench` (`.venv/bin/python bench/run.py` after `./dev setup`) on %s; do not edit by "
        "hand. Every figure below was measured by that run." % report["date"], "",
        "- Command: `%s`." % report.get("command", "./dev bench"),
        "- Machine: %s." % report["machine"],
        "- Software: %s." % ", ".join("%s %s" % item for item in report["versions"].items() if item[1]),
        "- Every speed figure is a ratio against a baseline measured in the same run, the runs alternating, so a busy "
        "machine slows both sides alike. A ratio is taken within each round (one run of each contender) and given "
        "as its median over the rounds, with the least and the greatest; times are medians. The database is a "
        "throwaway PostgreSQL cluster on 127.0.0.1 reached through psqlODBC (`PostgreSQL Unicode`); Ansible is the "
        "real `ansible-playbook`.", "",
        "## Results", "",
        "| part | measured | baseline | ratio (median, min to max) | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines.extend("| %s |" % " | ".join(row) for row in report["summary"])
    sections = []
    if report.get("per_task"):
        sections.append(per_task_section(report["per_task"]))
    if report.get("versus_tool"):
        sections.append(versus_section(report["versus_tool"]))
    if report.get("fleet"):
        sections.append(fleet_section(report["fleet"], report.get("pipelining")))
    if report.get("statements_count"):
        sections.append(statements_section(report["statements_count"]))
    if report.get("module_process"):
        sections.append(module_process_section(report["module_process"], report.get("per_task")))
    findings = findings_section(report)
    if findings:
        sections.append(["## What the figures show", ""] + findings)
    if report.get("slicing"):
        sections.append(slicing_section(report["slicing"]))
    for section in sections:
        lines += [""] + section
    return "\n".join(lines) + "\n"
