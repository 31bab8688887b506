"""AWX's fact cache under the execution environment's settings: the facts a job sets are where AWX reads them.

AWX puts each host's facts in ``artifacts/<job>/fact_cache/<host>`` before a job and reads that same file back
after it, as plain JSON (awx/main/tasks/facts.py: start_fact_cache, finish_fact_cache); ansible-runner points
ansible-core's jsonfile fact cache there. ansible-core 2.19 to 2.21 write ``s1_<host>`` instead, the facts
wrapped in a ``__payload__`` string (ansible/ansible#85874, #86028), so AWX keeps the facts it had or clears
them. 2.22's jsonfile option persist_metadata (#87479), which the image turns off, writes the old layout again.

The controller matrix runs this on every release, so it shows on which of them AWX gets a job's facts, and that
the release the image installs is one of them.
"""

from __future__ import annotations

import re

import ansible
import pytest

from tests.support import generate_db
from tests.support.awx_job import STATUS_TEMPLATE, AwxJob, image
from tests.support.scenarios import HEALTHY

pytestmark = pytest.mark.every_release
PERSIST_METADATA = "ANSIBLE_CACHE_JSONFILE_PERSIST_METADATA"


def release(version):
    """``(major, minor)`` of an ansible-core version, pre-releases included (2.22.0rc1 is 2.22)."""
    return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())


def lowest_release(requirement):
    """The release of the lowest version an ``ansible-core>=X,<Y`` requirement admits."""
    lower = [part.split(">=", 1)[1] for part in requirement.split(",") if ">=" in part]
    assert lower, "the image's ansible-core requirement %r has no lower bound" % requirement
    return release(lower[0])


def test_awx_takes_the_facts_of_a_job_on_the_release_the_image_installs_and_where_the_layout_is_the_one_it_reads(
        tmp_path):
    requirement, image_environment = image()
    database = generate_db.sqlite_database(str(tmp_path / "sandbox.db"))
    database.seed(HEALTHY)
    job = AwxJob(str(tmp_path), 601, STATUS_TEMPLATE)
    job.seed_fact_cache({"sandbox": {"generate_migrations": {"state": "what AWX held before the job"}}})
    status = job.launch([("sandbox", "sandbox")], host_variables={"sandbox": {"generate_db_schema": "main"}},
                        credential={"connection_string": database.connection_string},
                        image_environment=image_environment)
    assert (status, job.runner.rc) == ("successful", 0), job.output()

    running = release(ansible.__version__)
    writes_what_awx_reads = running < (2, 19) or (
        running >= (2, 22) and image_environment.get(PERSIST_METADATA) == "false")
    taken = job.facts_awx_reads("sandbox")
    if writes_what_awx_reads:
        assert taken is not None and taken["generate_migrations"]["state"] == "ok", taken
    else:
        assert taken is None, "ansible-core %s now writes what AWX reads: %r" % (ansible.__version__, taken)
    # The image installs a release whose facts AWX takes.
    image_release = lowest_release(requirement.replace("ansible-core", ""))
    assert image_release < (2, 19) or (
        image_release >= (2, 22) and image_environment.get(PERSIST_METADATA) == "false"), requirement
