"""What the job modules share: telling a Hadoop streaming task from a user's command."""

from __future__ import annotations

# switches mrjob passes when it runs a job file as one task of a step
TASK_SWITCHES = ("--mapper", "--reducer", "--combiner", "--steps", "--spark")


def is_task_invocation(argv) -> bool:
    """True when ``argv`` is mrjob running the job file as a task (not a user's command)."""
    return any(a.split("=")[0] in TASK_SWITCHES for a in argv)
