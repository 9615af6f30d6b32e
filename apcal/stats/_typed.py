"""Constant arguments for calls between numba kernels, typed as values rather than literals.

numba types a constant argument (``f(v, 0, n)``, ``g(x, True)``) as a literal (``Literal[int](0)``,
``Literal[bool](True)``) and compiles the callee once for each literal besides once for the calls with a
variable there: on first use the statistics and integration kernels compiled a dozen functions two or
four times (the selection chain of :func:`apcal.stats._select.median_mad` four times over). A numpy
scalar global is typed by its dtype (int64, bool), so calls that pass these share one compilation.
"""

from __future__ import annotations

import numpy as np

#: A flag argument's annotation: a bool, or one of these.
Flag = bool | np.bool_

ZERO = np.int64(0)
ONE = np.int64(1)
FALSE = np.bool_(False)
TRUE = np.bool_(True)
