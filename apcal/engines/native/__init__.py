"""The native engine: numpy references and numba kernels of ImageIntegration and ImageCalibration."""

from apcal.jit import configure_numba

configure_numba()  # before any kernel module imports numba
