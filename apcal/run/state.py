"""Incremental runs: is a job's master already on disk, built from exactly these inputs and settings?

The answer is in the master itself: its ``APCALHSH`` header card holds the hash of everything it was
built from (see :mod:`apcal.plan.keywords`). There is no state file to lose or fall out of step: delete
a master and it is rebuilt; touch one of its frames (size, mtime or header) and it is rebuilt, along
with the flats it calibrated, whose hashes include it. The hash covers the inputs only, so the master's
pixels are verified too, against the checksum written with them (:mod:`apcal.io.integrity`): a master
whose data rotted on disk is rebuilt, with a warning, never called up to date.
"""

from __future__ import annotations

from loguru import logger

from apcal.errors import FrameError
from apcal.io.base import truncation
from apcal.io.image import read_header
from apcal.io.integrity import verify_checksum
from apcal.plan.keywords import HASH_KEYWORD
from apcal.plan.model import Job


def planned_hash(job: Job) -> str | None:
    return next((str(k.value) for k in job.keywords if k.name == HASH_KEYWORD), None)


def is_up_to_date(job: Job, *, quiet: bool = False) -> bool:
    """True when ``job.output`` exists, reads, holds all its pixels, carries the hash the plan computed
    for it and its data matches its checksum (a mismatch is warned about unless ``quiet``)."""
    if not job.output.is_file():
        return False
    try:
        header = read_header(job.output)
        if truncation(job.output, header) is not None:  # cut short by a disk: rebuild it
            return False
    except (FrameError, OSError):
        return False
    found = next((str(k.value) for k in header.keywords if k.name == HASH_KEYWORD), None)
    if found is None or found != planned_hash(job):
        return False
    integrity = verify_checksum(job.output)
    if integrity.ok is False:
        if not quiet:
            logger.warning("{}: {}: rebuilt (not trusted)", job.output, integrity.problem)
        return False
    return True
