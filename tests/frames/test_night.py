"""The observing night comes from DATE-OBS (UTC) and the site's clock, never the machine's time zone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apcal.errors import RecipeError
from apcal.frames.night import observing_night, parse_date_obs

MACHINE_ZONES = ["Asia/Tokyo", "America/Los_Angeles"]


@pytest.fixture(params=MACHINE_ZONES)
def machine_tz(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Pretend the machine runs in a zone far from the site's, then restore the real one."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_dst_night_with_time_zone_and_longitude(machine_tz: str) -> None:
    # 2026-03-08 is the day US daylight saving starts; 03:30 UTC is 22:30 EST on the 7th
    assert time.localtime().tm_gmtoff != 0, machine_tz  # the machine's clock really is off UTC
    stamp = "2026-03-08T03:30Z"
    assert observing_night(stamp, timezone="America/New_York", longitude=None) == date(2026, 3, 7)
    assert observing_night(stamp, timezone=None, longitude=-75.0) == date(2026, 3, 7)


@pytest.mark.parametrize("machine_zone", MACHINE_ZONES)
def test_dst_night_in_a_fresh_process(machine_zone: str) -> None:
    code = (
        "from apcal.frames.night import observing_night as n;"
        "print(n('2026-03-08T03:30:00', timezone='America/New_York', longitude=None),"
        "n('2026-03-08T03:30:00', timezone=None, longitude=-75))"
    )
    env = {**os.environ, "TZ": machine_zone}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2026-03-07", "2026-03-07"]


def test_daylight_saving_is_applied_by_the_zone_not_by_longitude() -> None:
    # 16:30 UTC in July is 12:30 EDT (UTC-4): after noon, so the night of July 1st; local mean time
    # at -75 degrees (UTC-5) makes it 11:30, still the night of June 30th
    assert observing_night("2026-07-01T16:30:00", timezone="America/New_York", longitude=None) == date(
        2026, 7, 1
    )
    assert observing_night("2026-07-01T16:30:00", timezone=None, longitude=-75.0) == date(2026, 6, 30)


def test_timezone_wins_over_longitude() -> None:
    assert observing_night("2026-03-08T03:30:00", timezone="Asia/Tokyo", longitude=-75.0) == date(2026, 3, 8)


def test_rollover_is_at_local_noon() -> None:
    assert observing_night("2026-01-10T11:59:59", timezone=None, longitude=None) == date(2026, 1, 9)
    assert observing_night("2026-01-10T12:00:00", timezone=None, longitude=None) == date(2026, 1, 10)
    assert observing_night("2026-01-10T23:59:59", timezone=None, longitude=None) == date(2026, 1, 10)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-08T03:30:00",
        "2026-03-08 03:30:00",
        "2026-03-08T03:30",
        "2026-03-08T03:30:00Z",
        "2026-03-08T03:30:00.0968820",  # SGP: seven fractional digits
        "2026-03-08T03:30:00.455Z",
        "  2026-03-08T03:30:00  ",
        "2026-03-07T22:30:00-05:00",  # an explicit offset is honoured
    ],
)
def test_date_obs_formats(text: str) -> None:
    assert observing_night(text, timezone="America/New_York", longitude=None) == date(2026, 3, 7)


def test_date_only_is_kept_as_is() -> None:
    assert observing_night("2026-03-08", timezone="America/New_York", longitude=None) == date(2026, 3, 8)


@pytest.mark.parametrize("text", ["", "yesterday", "08/03/26", "2026-13-01T00:00:00", "2026-03-08T25:00:00"])
def test_unparseable_is_none(text: str) -> None:
    assert observing_night(text, timezone=None, longitude=None) is None


def test_unknown_zone_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match=r"headers\.timezone"):
        observing_night("2026-03-08T03:30:00", timezone="Mars/Olympus_Mons", longitude=None)


def test_leap_second_parses() -> None:
    parsed = parse_date_obs("2016-12-31T23:59:60")
    assert parsed is not None and parsed[0].second == 59


@given(st.text(max_size=40), st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)))
def test_never_raises_on_any_text(text: str, longitude: float | None) -> None:
    result = observing_night(text, timezone=None, longitude=longitude)
    assert result is None or isinstance(result, date)
