"""The units people read: a master's statistics in ADU, and in electrons where the camera's gain is known.

Masters are stored on PixInsight's [0, 1] scale, which nobody reads a bias level or a read noise in.
The report gives every pixel-valued statistic (:data:`PIXEL_STATS`) in ADU of the 16-bit scale
(value x 65535: what a 16-bit integer frame of the camera holds, and what apcal reads float ADU frames
as, :mod:`apcal.io.adu`), and in electrons (ADU x EGAIN) when the master's header carries ``EGAIN``
(e-/ADU, written by MaxIm DL, N.I.N.A. and APT; copied to the master when all its frames agree).
Counts, fractions and ratios (hot pixels, rejected fractions, vignetting) have no unit and are left as
they are.

Caveat: a capture program that writes 12- or 14-bit data scaled to 16 bits multiplies the ADU by 16 or
4, while EGAIN is usually the sensor's own e-/ADU; electrons are then off by that factor. apcal cannot
tell the two apart from the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from apcal.io.adu import ADU_FULL_SCALE
from apcal.vocabulary import Keyword

#: Statistics that are pixel values (levels and noise), converted to ADU and electrons.
PIXEL_STATS = frozenset({"median", "mean", "min", "max", "noise"})
EGAIN_KEYWORD = "EGAIN"


def egain(keywords: Iterable[Keyword]) -> float | None:
    """The header's EGAIN in e-/ADU when it is a positive finite number, else None."""
    for card in keywords:
        if card.name == EGAIN_KEYWORD:
            value = card.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) if math.isfinite(value) and value > 0 else None
            return None
    return None


def in_adu(stats: Mapping[str, float]) -> dict[str, float]:
    """``stats`` (as :func:`apcal.stats.master.master_statistics` gives them, on the [0, 1]
    scale) with the pixel-valued ones in ADU; the others unchanged."""
    return {k: v * ADU_FULL_SCALE if k in PIXEL_STATS else v for k, v in stats.items()}


def in_electrons(stats: Mapping[str, float], gain: float | None) -> dict[str, float]:
    """The pixel-valued statistics of ``stats`` (on the [0, 1] scale) in electrons; empty without a gain."""
    if gain is None:
        return {}
    return {k: v * ADU_FULL_SCALE * gain for k, v in stats.items() if k in PIXEL_STATS}
