"""Incremental runs: is a job's master already on disk, built from exactly these inputs and settings?

The answer is in the master itself: its ``APCALHSH`` header card holds the hash of everything it was
built from (see :mod:`apcal.plan.keywords`). There is no state file to lose or fall out of step: delete
a master and it is rebuilt; touch one of its frames (size, mtime or header) and it is rebuilt, along
with the flats it calibrated, whose hashes include it.
"""

from __future__ import annotations

from apcal.errors import FrameError
from apcal.io.image import read_header, truncation
from apcal.plan.keywords import HASH_KEYWORD
from apcal.plan.model import Job


def planned_hash(job: Job) -> str | None:
    return next((str(k.value) for k in job.keywords if k.name == HASH_KEYWORD), None)


def is_up_to_date(job: Job) -> bool:
    """True when ``job.output`` exists, reads, holds all its pixels and carries the hash the plan computed
    for it."""
    if not job.output.is_file():
        return False
    try:
        header = read_header(job.output)
        if truncation(job.output, header) is not None:  # cut short by a disk: rebuild it
            return False
    except (FrameError, OSError):
        return False
    found = next((str(k.value) for k in header.keywords if k.name == HASH_KEYWORD), None)
    return found is not None and found == planned_hash(job)
