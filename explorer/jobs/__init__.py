"""Long tasks as plain objects the CLI, the GUI and tests drive alike.

- `explorer.progress` (a lower layer, re-exported here): the job interface (`run(progress,
  should_stop)`), Progress records and the JSON-lines files a parent process follows.
- `commands`: the command line of each background job kind (`python -m explorer ...`).
- `process`: starting, signalling and following a job's child process.
- `status`: job kinds, statuses and the one-line text of a job row.
- `ingest`: a finished job's files turned into project rows, and jobs found dead on reopening.
"""

from ..progress import (
    Cancelled,
    Job,
    Progress,
    ProgressFn,
    ProgressReader,
    ProgressWriter,
    Rate,
    StopFn,
    never_stop,
    no_progress,
    tee,
)

__all__ = [
    "Cancelled",
    "Job",
    "Progress",
    "ProgressFn",
    "ProgressReader",
    "ProgressWriter",
    "Rate",
    "StopFn",
    "never_stop",
    "no_progress",
    "tee",
]
