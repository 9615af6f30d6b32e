"""The PixInsight engine: renders the plan into one PJSR script and runs PixInsight headless on it.

``ENGINE`` is the class the engine registry instantiates with ``recipe.engine.pixinsight``.
"""

from apcal.engines.pixinsight.engine import ENGINE, PixInsightEngine
from apcal.engines.pixinsight.render import render_script
from apcal.engines.pixinsight.runner import (
    RunOutcome,
    parse_status_lines,
    pixinsight_command,
    run_pixinsight,
)

__all__ = [
    "ENGINE",
    "PixInsightEngine",
    "RunOutcome",
    "parse_status_lines",
    "pixinsight_command",
    "render_script",
    "run_pixinsight",
]
