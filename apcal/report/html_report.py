"""The visual run report ``<logs>/<stamp>_report.html``: one self-contained page per run.

Rendered from the JSON run report (:func:`apcal.report.json_report.build_report`,
``schemas/report.schema.json``)
so the two never disagree (pixel values in ADU, with electrons beside them where EGAIN is known; the
histogram's axis in ADU too): run summary, a table of every master with its statistics, then per master
its auto-stretched preview, histogram, statistics, the masters that calibrated it (flats), the frames
screening left out and why; skipped groups and files last.

A run's report links its pictures from ``<logs>/previews/`` (``<master stem>.png`` and ``<master
stem>_histogram.svg``; an older run's ``.png`` histogram is still linked), written only for the masters the
run built: a nightly report with nothing new is a few kB, not megabytes of embedded images, and a master
that is up to date keeps the pictures of the run that built it. Without a previews folder (tests, one-off
pages) the pictures are embedded as ``data:`` URIs. CSS is inline and a Content-Security-Policy forbids
every load but those images, so the page opens offline. Every value from headers, paths and messages is
escaped (Jinja2 autoescape): a FILTER keyword of ``</script>`` stays text.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apcal.io.atomic import atomic_path
from apcal.report.library_view import library_view

if TYPE_CHECKING:
    import jinja2

#: The page's template (``apcal/report/templates``).
TEMPLATE = "report.html.j2"

#: Statuses whose master exists on disk and gets a preview.
_WITH_MASTER = ("built", "up_to_date")

#: Statistics shown in the masters table, in order, with their column titles.
TABLE_STATS = (
    ("median", "Median (ADU)"),
    ("noise", "Noise (ADU)"),
    ("rejected_low_fraction", "Rej. low"),
    ("rejected_high_fraction", "Rej. high"),
    ("hot_pixels", "Hot"),
    ("cold_pixels", "Cold"),
    ("vignetting_ratio", "Vignetting"),
    ("dust_donuts", "Dust"),
)

_LABELS = dict(TABLE_STATS) | {
    "mean": "Mean (ADU)",
    "min": "Minimum (ADU)",
    "max": "Maximum (ADU)",
    "rejected_low_fraction": "Rejected low (fraction of samples)",
    "rejected_high_fraction": "Rejected high (fraction of samples)",
    "hot_pixels": "Hot pixels",
    "cold_pixels": "Cold pixels",
    "vignetting_ratio": "Vignetting (corner / centre)",
    "dust_donuts": "Dust donuts (estimate)",
}
_COUNTS = frozenset({"hot_pixels", "cold_pixels", "dust_donuts"})
_FRACTIONS = frozenset({"rejected_low_fraction", "rejected_high_fraction"})


def format_stat(name: str, value: object) -> str:
    """A statistic as the report shows it: counts whole, fractions in percent, levels to 6 digits."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if not math.isfinite(value):
        return "—"
    if name in _COUNTS:
        return f"{round(value):d}"
    if name in _FRACTIONS:
        return f"{100 * value:.3f} %"
    if name == "vignetting_ratio":
        return f"{value:.3f}"
    return f"{value:.6g}"


def _with_electrons(name: str, adu: object, electrons: object) -> str:
    """A statistic in ADU (the report's unit), followed by its value in electrons when known."""
    text = format_stat(name, adu)
    if isinstance(electrons, int | float) and not isinstance(electrons, bool) and math.isfinite(electrons):
        text += f" ({format_stat(name, electrons)} e⁻)"
    return text


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def write_html_report(
    report: Mapping[str, Any],
    path: Path,
    *,
    images: Mapping[str, np.ndarray] | None = None,
    previews_dir: Path | None = None,
) -> Path:
    """Render ``report`` (the JSON run report as a dict) to ``path``, atomically; returns ``path``.

    ``images`` maps a group's ``id`` to its master's pixels; groups missing from it (or all, when None)
    whose status is built or up_to_date are read from their ``output`` file. A master that cannot be
    read gets a note instead of pictures. With ``previews_dir`` (a folder beside ``path``), pictures are
    files there, linked (see the module docstring); without, they are embedded.
    """
    path = Path(path)
    groups = list(report.get("groups", []))
    masters = []
    drawn = _all_pictures(groups, images, previews_dir, path)
    for index, (group, pictures) in enumerate(zip(groups, drawn, strict=True)):
        entry: dict[str, Any] = {"g": group, "anchor": f"master-{index + 1}"}
        entry["preview"], entry["histogram"], entry["problem"] = pictures
        electrons = group.get("stats_electrons") or {}
        entry["stats"] = [
            (_LABELS.get(k, k), _with_electrons(k, v, electrons.get(k)))
            for k, v in (group.get("stats") or {}).items()
        ]
        entry["table_stats"] = [format_stat(k, (group.get("stats") or {}).get(k)) for k, _ in TABLE_STATS]
        cal = group.get("calibration") or {}
        entry["calibration"] = [
            (role, cal[role]) for role in ("bias", "dark", "flatdark") if cal.get(role) is not None
        ]
        ks = [k for k in (group.get("dark_scales") or {}).values() if k is not None]
        entry["dark_k"] = (min(ks), max(ks), len(ks)) if ks else None
        entry["dark_scaling"] = cal.get("dark_scaling")  # method and exposure ratio, or None
        entry["excluded"] = list(group.get("excluded") or [])
        # frames integrated (NCOMBINE): the group's frames less those screened out on their pixels; frames
        # screened on their headers at plan time are not among the group's frames at all
        frames = set((group.get("group") or {}).get("frames") or [])
        entry["used"] = len(frames) - sum(e.get("path") in frames for e in entry["excluded"])
        masters.append(entry)

    html = _template().render(
        r=report,
        masters=masters,
        table_stats=[title for _, title in TABLE_STATS],
        excluded=[(m["g"], e) for m in masters for e in m["excluded"]],
        library=library_view(report),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8", errors="backslashreplace")  # odd file names
    return path


#: Masters whose pictures are drawn at once: reading, binning and encoding release the GIL. Two, not
#: more: each holds its master's pixels while it draws (~110 MB for a 6248x4176 master), and the report
#: is written after the engine, outside its memory_limit.
PICTURE_THREADS = 2


def _all_pictures(
    groups: list[Mapping[str, Any]],
    images: Mapping[str, np.ndarray] | None,
    previews_dir: Path | None,
    page: Path,
) -> list[tuple[str | None, str | None, str | None]]:
    """Each group's (preview, histogram, problem), in order, drawn on up to ``PICTURE_THREADS`` threads
    (as many masters' pixels in memory at once): two IMX294 masters' pictures took 0.4 s one after the
    other."""
    from concurrent.futures import ThreadPoolExecutor

    def pictures(group: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
        if previews_dir is not None:
            return _linked_pictures(group, images, Path(previews_dir), page.parent)
        return _embedded_pictures(group, images)

    workers = max(1, min(len(groups), os.cpu_count() or 1, PICTURE_THREADS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apcal-report") as pool:
        return list(pool.map(pictures, groups))


def _master_image(
    group: Mapping[str, Any], images: Mapping[str, np.ndarray] | None
) -> tuple[np.ndarray | None, str | None]:
    if images is not None and group.get("id") in images:
        return images[group["id"]], None
    if group.get("status") in _WITH_MASTER:
        return _read_master(Path(group["output"]))
    return None, None


def _embedded_pictures(
    group: Mapping[str, Any], images: Mapping[str, np.ndarray] | None
) -> tuple[str | None, str | None, str | None]:
    from apcal.report.preview import histogram_svg_bytes, preview_png_bytes

    image, problem = _master_image(group, images)
    if image is None:
        return None, None, problem
    histogram = data_uri(histogram_svg_bytes(image), "image/svg+xml")
    return data_uri(preview_png_bytes(image)), histogram, None


def preview_files(previews_dir: Path, master: Path) -> tuple[Path, Path]:
    """A master's preview and histogram in the previews folder: ``<stem>.png``, ``<stem>_histogram.svg``."""
    stem = Path(master).stem
    return previews_dir / f"{stem}.png", previews_dir / f"{stem}_histogram.svg"


def _linked_pictures(
    group: Mapping[str, Any], images: Mapping[str, np.ndarray] | None, previews_dir: Path, page_dir: Path
) -> tuple[str | None, str | None, str | None]:
    """Write the pictures of a master built in this run; link those a master up to date already has."""
    from urllib.parse import quote

    from apcal.report.preview import histogram_svg_bytes, preview_png_bytes

    if group.get("status") not in _WITH_MASTER:
        return None, None, None
    preview, histogram = preview_files(previews_dir, Path(group["output"]))
    if group.get("status") == "built":
        image, problem = _master_image(group, images)
        if image is None:
            return None, None, problem
        previews_dir.mkdir(parents=True, exist_ok=True)
        for target, data in ((preview, preview_png_bytes(image)), (histogram, histogram_svg_bytes(image))):
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
    elif not preview.is_file():
        return None, None, "no preview: the run that built this master wrote none"
    elif not histogram.is_file():  # built by apcal before histograms were SVG
        histogram = histogram.with_suffix(".png")

    def link(file: Path) -> str:
        return quote(os.path.relpath(file, page_dir).replace(os.sep, "/"))

    return link(preview), link(histogram) if histogram.is_file() else None, None


def _read_master(path: Path) -> tuple[np.ndarray | None, str | None]:
    from apcal.io.image import open_image

    try:
        with open_image(path) as reader:
            return reader.read(), None
    except Exception as exc:  # a missing or unreadable master must not stop the report
        text = " ".join(str(exc).split()) or type(exc).__name__
        return None, f"preview unavailable: {text}"


def _template() -> jinja2.Template:
    try:
        return _environment(_bytecode_cache()).get_template(TEMPLATE)
    except OSError:  # the cache folder refused the compiled template: compile it for this run only
        return _environment(None).get_template(TEMPLATE)


def _environment(cache: jinja2.BytecodeCache | None) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("apcal.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=cache,
    )
    env.filters["stat"] = lambda value, name="": format_stat(name, value)
    env.filters["basename"] = lambda p: Path(str(p)).name
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled template kept between runs: compiling it took ~0.18 s of every run (IMX294 night,
    cProfile), loading it a few ms. jinja2 checks the template's source and Python's version before
    using what it finds. Kept in the user's cache folder (platformdirs, beside the kernels); None when
    the folder cannot be made (the run compiles the template)."""
    import jinja2
    import platformdirs

    folder = platformdirs.user_cache_path("apcal") / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))
