"""The engines, behind one small protocol (:mod:`apcal.engines.base`), registered by name.

Factories import their engine lazily: the native engine pulls in numba, which ``apcal --help`` and
``apcal plan`` should not pay for.
"""

from __future__ import annotations

from collections.abc import Callable

from apcal.engines.base import Engine
from apcal.recipe.model import EngineSettings


def _native(settings: EngineSettings) -> Engine:
    from apcal.engines.native.engine import NativeEngine

    return NativeEngine(settings)


def _pixinsight(settings: EngineSettings) -> Engine:
    from apcal.engines.pixinsight.engine import PixInsightEngine

    return PixInsightEngine(settings.pixinsight)


def _siril(settings: EngineSettings) -> Engine:
    from apcal.engines.siril.engine import SirilEngine

    return SirilEngine(settings.siril)


ENGINES: dict[str, Callable[[EngineSettings], Engine]] = {
    "native": _native,
    "pixinsight": _pixinsight,
    "siril": _siril,
}


def make_engine(settings: EngineSettings) -> Engine:
    return ENGINES[settings.name](settings)


def start_warming(name: str) -> None:
    """Let engine ``name`` get ready while the plan is made: the native engine starts compiling its
    kernels in the background on first use (:mod:`apcal.engines.native.warmup`); others need nothing."""
    if name == "native":
        from apcal.engines.native.warmup import start

        start()
