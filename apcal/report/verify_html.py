"""The HTML page of ``apcal verify``: a table of every master's difference between engines, then per
master its difference image (:func:`apcal.report.preview.difference_png_bytes`, embedded as a
``data:`` URI so the page is one self-contained file).

Rendered from the JSON ``apcal verify --json`` prints (a dict), as the run report is from its JSON;
the masters are read again for the pictures. Values from paths and job ids are escaped (autoescape).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from apcal.io.atomic import atomic_path
from apcal.report.html_report import data_uri

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("apcal.report", "templates"),
    autoescape=True,
    undefined=jinja2.ChainableUndefined,
)


def _fmt(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value:.3g}"


def _pct(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{100 * value:.4f} %"


_ENV.filters["fmt"] = _fmt
_ENV.filters["pct"] = _pct


def difference_image(comparison: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The difference picture's data URI, or why there is none."""
    from apcal.errors import FrameError
    from apcal.io.image import open_image
    from apcal.report.preview import difference_png_bytes

    ref, other = comparison["reference"]["master"], comparison["other"]["master"]
    if not ref or not other:
        return None, None
    try:
        with open_image(Path(ref)) as a, open_image(Path(other)) as b:
            x, y = a.read().astype("float64"), b.read().astype("float64")
    except (FrameError, OSError) as error:
        return None, f"the masters cannot be read again: {error}"
    if comparison["type"] == "flat":
        import numpy as np

        x, y = x / np.nanmedian(x), y / np.nanmedian(y)
    noise = comparison["difference"].get("noise") or 0.0
    return data_uri(difference_png_bytes(y - x, float(noise), span=color_span(comparison))), None


def color_span(comparison: Mapping[str, Any]) -> float:
    """The picture's colour range in sigma: the 99.9th percentile of the difference (at least 0.05),
    so that differences far below the noise still show their structure."""
    p999 = comparison["difference"].get("p999_sigma")
    return max(float(p999), 0.05) if isinstance(p999, int | float) and math.isfinite(p999) else 3.0


def write_verify_html(outcome: Mapping[str, Any], path: Path) -> Path:
    """Render ``outcome`` (``apcal verify --json``'s dict) to ``path``, atomically; returns ``path``."""
    comparisons = []
    for comparison in outcome["comparisons"]:
        image, problem = difference_image(comparison)
        span = color_span(comparison)
        comparisons.append({**comparison, "image": image, "image_problem": problem, "span": span})
    html = _ENV.get_template("verify.html.j2").render(v={**outcome, "comparisons": comparisons})
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(path)
