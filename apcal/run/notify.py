"""A run's digest, sent through Apprise to wherever the recipe's ``notify.urls`` point.

Apprise (https://github.com/caronc/apprise) speaks e-mail, ntfy, Telegram, Discord, Slack, Pushover and
a hundred more services, each configured by one URL, so apcal writes none of them. The message is a
digest a person can act on from a phone: what was built, what is up to date, what was held back (a
group with too few frames), what failed and why, frames excluded, warnings, and where the report is.

A notification that cannot be sent (no network, a wrong token, a service down) is a warning in the
run's log, never a failed run: the masters are what matters. URLs hold secrets, so they are never
logged; a failure names the service's scheme only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from apcal.engines.base import JobResult
from apcal.plan.model import Plan
from apcal.recipe.model import Notify
from apcal.run.console_lines import job_title

#: How many items of each kind the message names before it only counts.
LIST_LIMIT = 8


@dataclass(frozen=True)
class Digest:
    title: str
    body: str
    problems: bool


def build_digest(
    recipe_name: str,
    plan: Plan,
    results: Sequence[JobResult],
    warnings: Sequence[str],
    unreadable: int,
    report: Path | None,
) -> Digest:
    """The title and body of a run's notification (see the module docstring)."""
    by_status: dict[str, list[JobResult]] = {}
    for result in results:
        by_status.setdefault(result.status, []).append(result)
    built, failed = by_status.get("built", []), by_status.get("failed", [])
    current = by_status.get("up_to_date", [])
    held = plan.skipped_groups
    excluded = [(r, e) for r in results for e in r.excluded] + [
        (None, e) for job in plan.jobs for e in job.excluded
    ]
    lines: list[str] = []

    def section(heading: str, items: list[str]) -> None:
        if items:
            lines.append(f"{heading} ({len(items)}):")
            lines.extend(f"- {item}" for item in items[:LIST_LIMIT])
            if len(items) > LIST_LIMIT:
                lines.append(f"- ... and {len(items) - LIST_LIMIT} more")

    section("Built", [job_title(plan.job(r.job_id)) for r in built])
    section("Failed", [f"{job_title(plan.job(r.job_id))}: {r.message}" for r in failed])
    section("Held", [f"{g.type.value} {g.name}: {g.reason}" for g in held])
    section("Excluded frames", [f"{Path(e.path).name}: {e.reason}" for _, e in excluded])
    notes = list(warnings) + ([f"{unreadable} input files skipped as unreadable"] if unreadable else [])
    section("Warnings", notes)
    if current:
        lines.append(f"Up to date: {len(current)}")
    lines.append(f"Report: {report}" if report else "Report: not written")
    problems = bool(failed or held or excluded or notes)
    summary = f"{len(built)} built, {len(current)} up to date, {len(failed)} failed"
    title = f"apcal {recipe_name}: {summary}" + (" - needs a look" if problems else "")
    return Digest(title, "\n".join(lines), problems)


def send_digest(notify: Notify, digest: Digest) -> bool:
    """Send ``digest`` to every URL of ``notify`` (when its ``when`` says so); True when all were sent.

    Never raises: a URL Apprise does not understand, or a service that does not answer, is a warning.
    """
    if not notify.urls or (notify.when == "problems" and not digest.problems):
        return True
    import apprise

    sender = apprise.Apprise()
    unknown = [url.split(":", 1)[0] for url in notify.urls if not sender.add(url)]
    for scheme in unknown:
        logger.warning("notification: a {}:// URL in notify.urls is not one Apprise understands", scheme)
    if len(sender) == 0:
        return False
    kind = apprise.NotifyType.FAILURE if digest.problems else apprise.NotifyType.SUCCESS
    try:
        sent = bool(sender.notify(title=digest.title, body=digest.body, notify_type=kind))
    except Exception as exc:  # a plugin's own bug must not fail a run whose masters are built
        logger.warning("notification could not be sent: {}", type(exc).__name__)
        return False
    if not sent:
        schemes = ", ".join(sorted({url.split(":", 1)[0] for url in notify.urls}))
        logger.warning("notification could not be sent to every service ({})", schemes)
    return sent and not unknown
