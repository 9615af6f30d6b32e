"""The HTML run report: self-contained, escaped, opens in headless Chromium with every image decoded."""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import jsonschema
import numpy as np
import pytest

from apcal.recipe.loader import recipe_from_mapping
from apcal.report.html_report import format_stat, write_html_report
from apcal.run.runner import run_recipe
from tests.plan.screening_nights import small_night

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium (Debian package 'chromium') is not installed; .ci/run installs it",
)

# Injected into a copy of the report (the report itself runs no script; its CSP forbids them): after
# load, write what the page shows into <pre id="check"> for --dump-dom to return.
_CHECK = """<script>
window.addEventListener("load", () => {
  const result = {
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
    table: [...document.querySelectorAll("#masters tbody tr")].map(r => r.dataset.job),
    sections: [...document.querySelectorAll("section.master")].map(s => s.dataset.job),
    excluded: [...document.querySelectorAll("#excluded tr td:nth-child(2)")].map(td => td.textContent),
    title: document.title,
  };
  const pre = document.createElement("pre");
  pre.id = "check";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


def chromium_check(report_html: Path) -> dict:
    page = report_html.read_text(encoding="utf-8")
    page = page.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
    page = page.replace("</body>", _CHECK + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        copy = report_html.with_name(f"check-{report_html.name}")  # beside it: linked pictures resolve
        copy.write_text(page, encoding="utf-8")
        command = [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={Path(tmp) / 'profile'}", "--dump-dom", copy.as_uri(),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"no check output from Chromium (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real native run of a small night, and its JSON report with screening's entries added."""
    root = tmp_path_factory.mktemp("run")
    truth = small_night(root / "night")
    recipe = recipe_from_mapping(
        {
            "apcal": 1,
            "name": "rig <b>&</b> site",
            "inputs": [{"path": "night"}],
            "output": {"dir": "out", "format": "fits"},
        },
        base_dir=root,
        environ={},
    )
    outcome = run_recipe(recipe)
    assert outcome.exit_code == 0, [r.message for r in outcome.results]
    report = json.loads(outcome.report_path.read_text())
    bias = report["groups"][0]
    bad = str(truth.files["bias"][3])
    assert bias["excluded"] == [] and bias["screening_warnings"] == []  # a clean night excludes nothing
    bias["excluded"] = [
        {"path": bad, "reason": Path(bad).name + ': gradient </script><script>alert("x")</script>'}
    ]
    bias["screening_warnings"] = ["a 'quoted' & <b>bold</b> warning"]
    return outcome, report


def test_report_with_screening_entries_follows_the_schema(run) -> None:
    _, report = run
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)


def test_html_is_self_contained_and_escaped(run, tmp_path) -> None:
    _, report = run
    path = write_html_report(report, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page.replace("&lt;script", "")  # the reason's </script><script> is text
    assert "&lt;/script&gt;&lt;script&gt;alert(" in page
    assert "rig &lt;b&gt;&amp;&lt;/b&gt; site" in page
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", page), "every resource must be embedded"
    assert "http://" not in page and "https://" not in page
    for group in report["groups"]:
        assert html.escape(group["id"]) in page
    assert page.count('src="data:image/png;base64,') == len(report["groups"])  # previews
    assert page.count('src="data:image/svg+xml;base64,') == len(report["groups"])  # histograms


def test_the_compiled_template_is_kept_in_the_cache_folder_and_optional(run, tmp_path, monkeypatch) -> None:
    _, report = run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = write_html_report(report, tmp_path / "first.html").read_text(encoding="utf-8")
    kept = list((tmp_path / "cache" / "apcal" / "templates").iterdir())
    assert len(kept) == 1 and kept[0].stat().st_size > 1000  # the compiled template
    again = write_html_report(report, tmp_path / "again.html").read_text(encoding="utf-8")
    assert again == first  # the same page from the kept template
    # A cache folder that cannot be made (a file is in its way): the page is written all the same.
    (tmp_path / "blocked").write_text("a file, not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocked"))
    assert write_html_report(report, tmp_path / "blocked.html").read_text(encoding="utf-8") == first


def test_previews_are_linked_files_written_only_for_masters_built(run, tmp_path) -> None:
    _, report = run
    page = write_html_report(report, tmp_path / "report.html", previews_dir=tmp_path / "previews").read_text()
    assert "data:image" not in page
    for group in report["groups"]:
        stem = Path(group["output"]).stem
        for name, magic in ((f"{stem}.png", b"\x89PNG\r\n\x1a\n"), (f"{stem}_histogram.svg", b"<svg ")):
            assert (tmp_path / "previews" / name).read_bytes().startswith(magic)
            assert f'src="previews/{quote(name)}"' in page
        assert not Path(group["output"]).with_suffix(".png").exists()  # nothing beside the masters
    # a later report where every master is up to date links the same files and writes none
    later = json.loads(json.dumps(report))
    for group in later["groups"]:
        group["status"] = "up_to_date"
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "previews").iterdir()}
    page = write_html_report(later, tmp_path / "later.html", previews_dir=tmp_path / "previews").read_text()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "previews").iterdir()} == before
    assert page.count('src="previews/') == 2 * len(later["groups"])


def test_an_up_to_date_master_keeps_the_png_histogram_an_older_apcal_wrote(run, tmp_path) -> None:
    _, report = run
    later = json.loads(json.dumps(report))
    previews = tmp_path / "previews"
    previews.mkdir()
    for group in later["groups"]:
        group["status"] = "up_to_date"
        stem = Path(group["output"]).stem
        (previews / f"{stem}.png").write_bytes(b"png")
        (previews / f"{stem}_histogram.png").write_bytes(b"png")
    page = write_html_report(later, tmp_path / "later.html", previews_dir=previews).read_text()
    for group in later["groups"]:
        assert f'src="previews/{quote(Path(group["output"]).stem)}_histogram.png"' in page
    assert not list(previews.glob("*.svg"))  # nothing drawn for a master this run did not build


def test_missing_master_and_given_images(run, tmp_path) -> None:
    _, report = run
    broken = json.loads(json.dumps(report))
    broken["groups"][1]["output"] = str(tmp_path / "gone.fits")
    images = {broken["groups"][2]["id"]: np.full((20, 30), 0.4, np.float32)}
    page = write_html_report(broken, tmp_path / "r.html", images=images).read_text()
    assert "preview unavailable" in page and "gone.fits" in page
    assert page.count('src="data:image/png;base64,') == len(report["groups"]) - 1
    assert page.count('src="data:image/svg+xml;base64,') == len(report["groups"]) - 1


def test_format_stat() -> None:
    assert format_stat("hot_pixels", 12.0) == "12"
    assert format_stat("rejected_low_fraction", 0.0125) == "1.250 %"
    assert format_stat("median", None) == "—"
    assert format_stat("median", float("nan")) == "—"
    assert format_stat("median", 0.00762951) == "0.00762951"
    assert format_stat("vignetting_ratio", 0.75661) == "0.757"


@needs_chromium
def test_report_opens_in_headless_chromium(run, tmp_path) -> None:
    _, report = run
    path = write_html_report(report, tmp_path / "report.html")
    shown = chromium_check(path)
    ids = [g["id"] for g in report["groups"]]
    assert shown["table"] == ids
    assert shown["sections"] == ids
    assert len(shown["images"]) == 2 * len(ids)
    assert all(image["complete"] and image["width"] > 0 for image in shown["images"]), shown["images"]
    assert shown["excluded"] == [report["groups"][0]["excluded"][0]["path"]]
    assert shown["title"].startswith("apcal run report: rig <b>&</b> site")


@needs_chromium
def test_a_report_with_linked_previews_shows_them_in_headless_chromium(run, tmp_path) -> None:
    _, report = run
    path = write_html_report(report, tmp_path / "report.html", previews_dir=tmp_path / "previews")
    shown = chromium_check(path)
    assert len(shown["images"]) == 2 * len(report["groups"])
    assert all(image["complete"] and image["width"] > 0 for image in shown["images"]), shown["images"]


@needs_chromium
def test_chromium_check_notices_a_broken_image(tmp_path) -> None:
    """The check is not vacuous: an undecodable image reports width 0."""
    page = tmp_path / "p.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:\"></head><body><img alt='bad' src='data:image/png;base64,AAAA'></body></html>"
    )
    assert chromium_check(page)["images"] == [{"alt": "bad", "complete": True, "width": 0}]
