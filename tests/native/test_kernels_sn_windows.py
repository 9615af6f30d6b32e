"""The branch-free Sn of the lanes' restarts equals the two-pointer Sn (the reference's value)."""

import numpy as np

from apcal.engines.native import _kernels as K


def test_sn_windows_equals_two_pointer_sn():
    rng = np.random.default_rng(5)
    work = np.empty(70)
    for trial in range(3000):
        n = int(rng.integers(1, 70))
        v = np.sort(np.round(rng.standard_normal(n) * rng.choice([0.5, 3, 100])) / 65535 + 0.3)
        if trial % 7 == 0:
            v[: n // 2] = v[0]  # long runs of ties
        if trial % 11 == 0:
            v[n // 3 : n // 2 + 1] = v[n // 3]
        if trial % 13 == 0:
            v[-1] = np.inf  # not finite: falls back to _sn itself
        lo = int(rng.integers(0, max(1, n // 4)))
        hi = n - int(rng.integers(0, max(1, n // 4)))
        if hi - lo < 1:
            continue
        expected = K._sn(v, lo, hi, work)
        got = K._sn_windows(v, lo, hi, work)
        assert got == expected or (np.isnan(got) and np.isnan(expected))
