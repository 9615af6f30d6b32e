"""Pure array statistics, the bottom layer: robust location and scale, selection, noise, wavelet layers.

Nothing here knows about frames, plans or engines; the native engine, the screening policy and the
report all measure pixels through these modules (numpy references beside their numba kernels).
"""

from apcal.jit import configure_numba

configure_numba()  # before any kernel module imports numba
