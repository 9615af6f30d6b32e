"""The publish step of a run (``library.publish: true``): file tonight's masters into ``library.root``.

Runs after every job, on the masters that exist (built now or up to date); see
:mod:`apcal.library.publish` for the QC gate and the filing. Each outcome is logged (a held master as an
error naming it and why, so the run's summary and notifications carry it) and returned for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

from loguru import logger

from apcal.engines.base import JobResult
from apcal.library.catalog import Catalog
from apcal.library.publish import Published, publish
from apcal.plan.model import Plan
from apcal.recipe.model import Recipe
from apcal.run.console_lines import job_title, shown


def publish_results(recipe: Recipe, plan: Plan, results: Sequence[JobResult]) -> list[Published]:
    """Publish the masters of ``results`` (built or up to date) and log what became of each."""
    root = recipe.library.root
    if not recipe.library.publish or root is None:
        return []
    done = [
        r
        for r in results
        if r.status in ("built", "up_to_date") and r.output is not None and r.output.is_file()
    ]
    titles = {r.output: job_title(plan.job(r.job_id)) for r in done if r.output is not None}
    fresh = {r.output for r in done if r.status == "built"}
    with Catalog(root, recipe.headers) as catalog:
        outcomes = publish(catalog, [r.output for r in done if r.output is not None], recipe.library.qc_gate)
    for outcome in outcomes:
        title = titles.get(outcome.source, outcome.source.name)
        if outcome.status == "filed":
            logger.info(
                "{}: filed into the library as {} ({})",
                title,
                shown(outcome.path or outcome.source),
                outcome.reason,
            )
        elif outcome.status == "in_library":
            logger.info("{}: already in the library ({})", title, shown(outcome.path or outcome.source))
        elif outcome.status == "held" and outcome.source in fresh:
            logger.error(
                "{}: held back from the library: {}; it stays in {} (once checked, file it with: "
                "apcal library file {} {})",
                title,
                outcome.reason,
                shown(outcome.source),
                root,
                outcome.source,
            )
        elif outcome.status == "held":
            logger.warning("{}: still held back from the library (unchanged): {}", title, outcome.reason)
        else:
            logger.error("{}: not published: {}", title, outcome.reason)
    return outcomes


def library_section(outcomes: Sequence[Published], root: object) -> dict[str, object]:
    """The report's ``library`` entry: the root and one entry per master published."""
    return {
        "root": str(root),
        "held": sum(o.status == "held" for o in outcomes),
        "masters": [o.to_dict() for o in outcomes],
    }


def held_line(outcomes: Sequence[Published]) -> str:
    """', 1 held back from the library' for the run's closing line; '' when none was."""
    held = sum(o.status == "held" for o in outcomes)
    return f", {held} held back from the library" if held else ""


def publishing_failed(outcomes: Sequence[Published], results: Sequence[JobResult]) -> bool:
    """Whether publishing makes the run exit 1: a master that could not be filed, or one this run built
    that the gate held. A held master that is merely up to date was held, and said, by the run that
    built it: a rerun is up to date, and warns that it is still held."""
    built = {r.output for r in results if r.status == "built"}
    return any(o.status == "failed" or (o.status == "held" and o.source in built) for o in outcomes)
