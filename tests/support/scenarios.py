"""The seed scenarios: what a Generate database holds in each case the tests, the demo and the bench set up.

A scenario's steps are ``(type_code, status_code, age_seconds)`` per DataMigrations row
(``GenerateDatabase.seed``); a history is ``(type_code, age_seconds, message)`` per line.
Each scenario is defined once, here, so that a test, the demo and the bench that name
the same case seed the same rows.
"""

from __future__ import annotations

HOUR = 3600

# Every step succeeded, a day ago.
HEALTHY = [("ods", "success", 90000), ("rds", "success", 88000), ("report", "success", 86000)]
# Every step succeeded, two to three hours ago.
HEALTHY_RECENT = [("ods", "success", 9000), ("rds", "success", 8000), ("report", "success", 7000)]
# The troubleshooting page's case: the first step failed, the steps queued behind it never ran.
FAILED = [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)]
# What Generate writes to the history of a failed ODS run.
FAILED_HISTORY = [
    ("ods", 7200, "ODS Migration Started"),
    ("ods", 7000, "Error in App.Migrate_Data: deadlock victim"),
    ("ods", 6990, "ODS Migration Complete - either due to error or cancellation"),
]
# A report run whose process died eleven hours ago: still processing, nothing runs it.
STUCK = [("ods", "success", 50000), ("rds", "success", 45000), ("report", "processing", 40000)]
# A report run started ten hours ago: longer than Generate 13.1's timeout, within 13.2's.
TEN_HOUR_REPORT = [("ods", "success", 20 * HOUR), ("rds", "success", 15 * HOUR), ("report", "processing", 10 * HOUR)]
# The rds step runs right now (triggered five minutes ago).
RUNNING = [("ods", "success", 9000), ("rds", "processing", 300), ("report", "success", 9000)]
# A report run triggered an hour ago.
PROCESSING_AN_HOUR = [("ods", "success", 9000), ("rds", "success", 8000), ("report", "processing", 3600)]
# A background app's Hangfire server id, as Hangfire.SqlServer writes it.
SERVER = "generate-background:4312:1f0e9a2c"
# The seed of the project: the documented manual fix, as an operator types it in SSMS.
SEED_UPDATE = 'UPDATE "App"."DataMigrations" SET "DataMigrationStatusId" = 5'
