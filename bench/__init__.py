# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark behind ``./dev bench``: one module per part, one report writer, and ``run.py`` that starts it.

Parts: 1 ``per_task_cost`` (data_migrations status in the worker and as a
module process, against ``ansible.builtin.ping``), 2
``reset_vs_postgresql_query``, 3 ``fleet_scaling`` (with ``job_slicing``), 4
``statements_count``, 5 ``module_process`` (``module_profile.py`` is the
process it times). ``playbook_runs`` runs ansible-playbook and pairs the runs;
``report`` writes docs/benchmarks.md.
"""
