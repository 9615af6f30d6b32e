"""Float frames written in ADU: found from their pixels, read on the 16-bit scale like integer frames.

One camera, two scales: a capture program that writes 16-bit integers gives frames PixInsight reads in
[0, 1] (ADU / 65535), while one that writes 32-bit floats usually stores the same ADU as floats (0 to
65535). Built as stored, the second gives masters in ADU, 65535 times the first's. apcal reads a FITS
float image whose pixels are *clearly* in ADU as 16-bit data, dividing by 65535, so both give the same
master in PixInsight's [0, 1] convention.

**The rule** (:func:`looks_like_adu`): the image is in ADU when more than :data:`ADU_FRACTION` (0.1 %)
of its finite samples exceed :data:`ADU_LIMIT` (2.0), measured on :data:`PROBE_ROWS` evenly spaced rows.
Data in [0, 1] never get there: a sample of a raw or calibrated frame in [0, 1] is at most 1 (plus a
pedestal of a few 1/65535), and a stray corrupt sample or a hot pixel is far less than 0.1 % of a frame.
Raw frames in ADU exceed it by orders of magnitude (offsets of hundreds of ADU), and even a bias-free
frame with zero offset does once its read noise is above ~0.7 ADU (the 99.9th percentile of its noise
is then above 2). A master flat normalized to a mean of 1 (Siril, ccdproc) reaches 1.2-1.5 in its
corners and stays below the limit. The decision is per file, from its own pixels, so the frames of a
stack are each read on the right scale whatever the others hold.

**What PixInsight does** (PCL ``src/modules/file-formats/FITS/FITSInstance.cpp``,
``ApplyOutOfRangePolicy``): a float FITS image with samples outside the FITS module's input range —
[0, 1] unless the user changes "lower/upper range" in the FITS preferences — is *rescaled* by default
(``OutOfRangeFix_Rescale``) from its own minimum and maximum, ``(x - min)/(max - min)``. Each frame then
gets its own scale (one hot pixel or cosmic ray changes it), so stacks of float ADU frames do not
integrate consistently. Users set the upper range to 65535 for such data (the FITS reader then divides
by it, clipping to [0, 1]); apcal does that by itself for the files this rule finds, and leaves data in
[0, 1] alone. The PixInsight engine passes ``lower-range 0 upper-range 65535`` in the input hints of
groups whose frames are float ADU (:mod:`apcal.engines.pixinsight.render`).

XISF images carry their range in the ``bounds`` attribute, which the XISF reader applies; they are not
probed here.
"""

from __future__ import annotations

import numpy as np

#: Full scale of 16-bit data: an ADU of 65535 reads 1.0, as a 16-bit integer frame does.
ADU_FULL_SCALE = 65535.0
#: A sample above this is not on PixInsight's [0, 1] scale.
ADU_LIMIT = 2.0
#: More than this fraction of the finite samples above ADU_LIMIT: the image is in ADU.
ADU_FRACTION = 1e-3
#: Rows of the image probed (evenly spaced, the first and last included).
PROBE_ROWS = 16

#: The HISTORY line a master gets when some of its frames were read as float ADU.
HISTORY_TEMPLATE = "apcal.input: {count} float frame(s) in ADU read as 16-bit data (/65535)"


def probe_rows(rows: int, count: int = PROBE_ROWS) -> list[int]:
    """Up to ``count`` distinct row indices spread evenly over ``rows`` rows, in order."""
    if rows <= 0:
        return []
    return sorted({int(r) for r in np.rint(np.linspace(0, rows - 1, min(count, rows)))})


def looks_like_adu(samples: np.ndarray) -> bool:
    """True when more than ADU_FRACTION of the finite ``samples`` exceed ADU_LIMIT (the module's rule)."""
    values = np.asarray(samples, dtype=np.float64).reshape(-1)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return False
    return int(np.count_nonzero(finite > ADU_LIMIT)) > ADU_FRACTION * finite.size
