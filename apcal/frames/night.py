"""The observing night a frame belongs to, from its DATE-OBS, independent of the machine's clock.

DATE-OBS is UTC (FITS standard). It is converted to the site's local time, either with an IANA time zone
(``headers.timezone``, daylight saving included) or to local mean time from the site's longitude
(15 degrees per hour, east positive), and the night rolls over at local noon: anything before noon
belongs to the night that began the previous evening. With neither setting, UTC is the local time.
The machine's own time zone (``TZ``, ``time.localtime``) is never consulted.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apcal.errors import RecipeError

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d+))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


def parse_date_obs(text: str) -> tuple[datetime, bool] | None:
    """Parse a DATE-OBS value as an aware UTC datetime; the flag says whether it had a time of day.

    Accepts ISO 8601 with 'T' or a blank between date and time, any number of fractional-second digits
    (SGP writes seven), a trailing 'Z' or numeric offset, and date-only values. Returns None for
    anything else (old 'dd/mm/yy' values included).
    """
    match = _ISO.fullmatch(text.strip())
    if not match:
        return None
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    if match["H"] is None:
        return datetime(day.year, day.month, day.day, tzinfo=dt_timezone.utc), False
    hour, minute = int(match["H"]), int(match["M"])
    second = min(int(match["S"] or 0), 59)  # a leap second ':60' counts as ':59'
    micro = int((match["f"] or "0")[:6].ljust(6, "0"))
    if hour > 23 or minute > 59:
        return None
    stamp = datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=dt_timezone.utc)
    offset = match["tz"]
    if offset and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            stamp = stamp - delta if offset[0] == "+" else stamp + delta
        except OverflowError:
            return None
    return stamp, True


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecipeError(f"headers.timezone: unknown IANA time zone {name!r}") from exc


def observing_night(date_obs: str, *, timezone: str | None, longitude: float | None) -> date | None:
    """The date of the evening on which the night containing ``date_obs`` (UTC) began.

    ``timezone`` (IANA name such as 'America/New_York') wins over ``longitude`` (degrees, east positive);
    with neither, the night is reckoned in UTC. A date-only DATE-OBS has no time to convert and is
    returned as is. Returns None when ``date_obs`` cannot be parsed. Raises
    :class:`~apcal.errors.RecipeError` for an unknown time zone name.

    >>> observing_night("2026-03-08T03:30:00Z", timezone="America/New_York", longitude=None)
    datetime.date(2026, 3, 7)
    """
    parsed = parse_date_obs(date_obs)
    if parsed is None:
        return None
    stamp, has_time = parsed
    if not has_time:
        return stamp.date()
    zone = _zone(timezone) if timezone else None
    try:
        if zone is not None:
            local = stamp.astimezone(zone).replace(tzinfo=None)
        elif longitude is not None:
            local = stamp.replace(tzinfo=None) + timedelta(hours=float(longitude) / 15.0)
        else:
            local = stamp.replace(tzinfo=None)
        return (local - timedelta(hours=12)).date()
    except (OverflowError, ValueError):  # a date at the very edge of the calendar
        return None


__all__ = ["observing_night", "parse_date_obs"]
