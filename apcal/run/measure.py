"""Master statistics for engines that do not measure their masters: read from the master as written.

The native engine measures each master from the array it has just integrated (no second read) and also
counts the samples it rejected. PixInsight's script (and any engine whose
:class:`~apcal.engines.capabilities.Capabilities` has ``rejection_counts`` false) reports only whether a
master was built, so the runner reads the written master back and measures it with the same
:func:`apcal.stats.master.master_statistics`: the report and the library then compare masters of every
engine on one footing. Rejected fractions stay unknown for those engines and are left out, not guessed.
"""

from __future__ import annotations

import dataclasses

from loguru import logger

from apcal.engines.base import JobResult
from apcal.errors import FrameError
from apcal.plan.model import Job


def measured(job: Job, result: JobResult) -> JobResult:
    """``result`` with master statistics measured from its written master when the engine gave none.

    A master that cannot be read back is a warning, not a failure: the engine built and verified it;
    only its statistics are missing from the report.
    """
    if result.status != "built" or result.stats or result.output is None or not result.output.is_file():
        return result
    from apcal.io.image import open_image
    from apcal.stats.master import master_statistics

    try:
        with open_image(result.output) as reader:
            image = reader.read()
    except (OSError, FrameError) as exc:
        logger.warning("could not measure {} for the report: {}", result.output, exc)
        return result
    return dataclasses.replace(result, stats=master_statistics(image, job.type))
