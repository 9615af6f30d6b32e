"""The run's heading and report line at a cron mail's 80 columns (:mod:`apcal.run.console_lines`)."""

from __future__ import annotations

from pathlib import Path

from apcal.run.console_lines import LINE_WIDTH, heading_lines, report_lines


def test_a_short_heading_is_one_line() -> None:
    assert heading_lines("nightly", 3, 3, "native", "out") == [
        "apcal run of 'nightly': 3 masters (3 to build), native engine, into out"
    ]


def test_a_long_folder_moves_to_its_own_line() -> None:
    folder = "/srv/observatory/masters/asi2600mm"
    assert heading_lines("nightly", 12, 5, "native", folder) == [
        "apcal run of 'nightly': 12 masters (5 to build), native engine,",
        f"  into {folder}",
    ]


def test_a_long_recipe_name_keeps_the_counts_and_folder_on_the_next_line() -> None:
    lines = heading_lines("asi2600mm-on-the-106mm-refractor-winter", 12, 5, "pixinsight", "out")
    assert lines == [
        "apcal run of 'asi2600mm-on-the-106mm-refractor-winter':",
        "  12 masters (5 to build), pixinsight engine, into out",
    ]


def test_a_long_name_and_folder_take_three_lines_none_cut() -> None:
    name, folder = "asi2600mm-on-the-106mm-refractor-winter", "/srv/observatory/masters/asi2600mm/2026"
    lines = heading_lines(name, 12, 5, "native", folder)
    assert lines == [
        f"apcal run of '{name}':",
        "  12 masters (5 to build), native engine,",
        f"  into {folder}",
    ]
    assert all(len(line) <= LINE_WIDTH for line in lines)
    too_long = "x" * 90  # longer than any line: shown whole, on its own line
    assert heading_lines(too_long, 1, 1, "native", "out") == [
        f"apcal run of '{too_long}':",
        "  1 master (1 to build), native engine, into out",
    ]


def test_the_report_path_stays_whole_on_a_line_of_its_own_when_long() -> None:
    def report(folder: str) -> Path:
        return Path("/srv/obs") / folder / "logs/20261207_202044_report.html"

    assert report_lines(report("out")) == [f"report: {report('out')}"]
    long = report("w" * 34)  # 76 characters: the indent fits
    assert report_lines(long) == ["report:", f"  {long}"]
    longer = report("w" * 37)  # 79 characters: no room for the indent
    assert report_lines(longer) == ["report:", str(longer)]
    assert len(str(long)) == 76 and len(str(longer)) == 79
    assert report_lines(None) == ["report: not written"]
