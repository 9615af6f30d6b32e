"""Trend plots of the library's QC figures: PNGs (matplotlib's Agg, no display) and a small HTML page.

One figure per configuration line, one panel per QC figure against the night; a change point is drawn
as a dashed line at its night, named in the panel's title. The run report's library view embeds the
same PNGs (:func:`trend_png`).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from apcal.io.atomic import atomic_path
from apcal.library.history import FIGURES, Line


def trend_png(line: Line) -> bytes:
    """The PNG of ``line``: one panel per QC figure that any of its masters has."""
    from matplotlib.dates import AutoDateFormatter, AutoDateLocator, date2num
    from matplotlib.figure import Figure  # a bare Figure renders with Agg; pyplot is never imported

    shown = [f for f in FIGURES if any(r.qc.get(f) is not None for r in line.records)]
    figure = Figure(figsize=(3.2 * max(1, len(shown)), 2.6), dpi=100)
    changes = {c.figure: c for c in line.changes}
    for index, name in enumerate(shown, start=1):
        axes = figure.add_subplot(1, len(shown), index)
        points = [(date2num(r.night), r.qc.get(name), r.status) for r in line.records if r.night is not None]
        good = [(n, v) for n, v, s in points if v is not None and s != "bad"]
        bad = [(n, v) for n, v, s in points if v is not None and s == "bad"]
        if good:
            axes.plot([n for n, _ in good], [v for _, v in good], "o-", color="#2a6fb0", markersize=4)
        if bad:
            axes.plot([n for n, _ in bad], [v for _, v in bad], "x", color="#c0392b", label="bad")
        change = changes.get(name)
        title = FIGURES[name]
        if change is not None:
            title += f"\n{change.text}"
            with contextlib.suppress(ValueError):  # a master without a night: named in the title only
                since = float(date2num(date.fromisoformat(change.since)))
                axes.axvline(since, color="#c0392b", linestyle="--", linewidth=1)
        locator = AutoDateLocator(minticks=2, maxticks=4)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(AutoDateFormatter(locator))
        axes.ticklabel_format(axis="y", useOffset=False, style="plain")
        values = [v for _, v in good + bad]
        if values:  # a flat line stays flat: at least ±5 % of its level is shown
            middle, half = (max(values) + min(values)) / 2, (max(values) - min(values)) / 2
            half = max(half * 1.2, abs(middle) * 0.05, 0.5)
            axes.set_ylim(middle - half, middle + half)
        axes.set_title(title, fontsize=8)
        axes.tick_params(labelsize=6)
        axes.tick_params(axis="x", labelrotation=30)
    figure.suptitle(f"{line.camera} {line.type}", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def lines_html(lines: Sequence[Line]) -> str:
    """The HTML of every line: a heading, the change points named, the plot."""
    parts = []
    for line in lines:
        heading = f"{line.camera} — {line.type} ({len(line.records)} masters)"
        changes = "".join(f"<li>{html.escape(c.text)}</li>" for c in line.changes) or "<li>no change</li>"
        parts.append(
            f"<section><h2>{html.escape(heading)}</h2><p class='config'>{html.escape(line.config)}</p>"
            f"<ul>{changes}</ul>{_img(trend_png(line), heading)}</section>"
        )
    return "\n".join(parts)


def write_history_html(lines: Sequence[Line], path: Path, title: str) -> None:
    """A self-contained page (images inline) of every line, written atomically."""
    body = lines_html(lines) or "<p>No masters catalogued.</p>"
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}h2{font-size:1.05em;margin-bottom:.2em}"
        ".config{color:#666;font-size:.8em}img{max-width:100%}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
