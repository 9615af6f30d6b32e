"""Bring an integrated master into [0, 1], as ImageIntegration does before it writes the result.

PCL ``ImageIntegrationInstance::ExecuteGlobal`` (ImageIntegrationInstance.cpp): when the result's extreme
samples leave [0, 1], ``truncateOnOutOfRange`` clamps it to [0, 1] (WBPP 3.0.1 sets it, and so does
apcal by default); otherwise the result is rescaled — (x - min)/(max - min) when it goes negative,
x/max when it only exceeds 1. The extremes are taken over the whole image, all channels.
"""

from __future__ import annotations

import numpy as np


def fit_output_range(image: np.ndarray, truncate: bool) -> np.ndarray:
    """``image`` (float32, any shape) brought into [0, 1] in place as PixInsight does; returned too."""
    if image.size == 0:
        return image
    low = float(np.nanmin(image))
    high = float(np.nanmax(image))
    if low >= 0 and high <= 1:
        return image
    if truncate:
        np.clip(image, 0.0, 1.0, out=image)
    elif low < 0:
        image -= np.float32(low)
        image /= np.float32(high - low)
    else:
        image /= np.float32(high)
    return image
