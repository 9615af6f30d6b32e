"""The native engine: numpy references and numba kernels of ImageIntegration and ImageCalibration."""

from apcal.jit import configure_numba_cache

configure_numba_cache()  # before any kernel module imports numba
