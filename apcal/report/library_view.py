"""The run report's library view (``library.publish``): tonight's masters against their predecessors,
and the trend plots of the rig's masters from the catalogue.

Built from the report's ``library`` entry; the trend plots read the catalogue of its root (after this
run's masters were filed), for the cameras of tonight's masters. A catalogue that cannot be read costs
the plots only, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

FIGURES = (("median_adu", "level"), ("noise_adu", "noise"), ("hot_pixels", "hot pixels"))


def _change(new: float | None, old: float | None) -> str:
    if new is None or old is None or old == 0:
        return ""
    return f" ({new / old - 1:+.1%})"


def _figure(name: str, entry: Mapping[str, Any]) -> dict[str, str]:
    new = (entry.get("qc") or {}).get(name)
    old = (entry.get("predecessor_qc") or {}).get(name)
    shown = "—" if new is None else f"{new:.5g}"
    before = "—" if old is None else f"{old:.5g}"
    return {"tonight": shown + _change(new, old), "before": before}


def _trend_plots(root: Path, entries: list[Mapping[str, Any]]) -> tuple[list[tuple[str, str]], str | None]:
    """(title, data URI) per configuration line of tonight's cameras, and a note when none could be drawn."""
    from apcal.library.catalog import Catalog
    from apcal.library.history import history
    from apcal.library.history_html import trend_png
    from apcal.recipe.model import Headers
    from apcal.report.html_report import data_uri

    try:
        with Catalog(root, Headers({}, {})) as catalog:
            records = catalog.records()
    except Exception as exc:  # the plots are a view: never fail the report for them
        return [], f"trend plots unavailable: {exc}"
    tonight = {str(e.get(k)) for e in entries for k in ("library_path", "predecessor") if e.get(k)}
    cameras = {r.camera for r in records if str(root / r.path) in tonight}
    plots = []
    for line in history(records):
        if line.camera in cameras:
            title = f"{line.camera} {line.type}" + "".join(f"; {c.text}" for c in line.changes)
            plots.append((title, data_uri(trend_png(line))))
    return plots, None


def library_view(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the template shows of the library, or None when the run published nothing."""
    section = report.get("library")
    if not section:
        return None
    entries = list(section.get("masters") or [])
    rows = [
        {
            "e": entry,
            "figures": [(label, _figure(name, entry)) for name, label in FIGURES],
        }
        for entry in entries
    ]
    plots, note = _trend_plots(Path(section["root"]), entries)
    return {
        "root": section["root"],
        "held": section.get("held", 0),
        "rows": rows,
        "plots": plots,
        "note": note,
    }
