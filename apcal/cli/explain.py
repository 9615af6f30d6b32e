"""``apcal plan --explain``: for each flat group, every library candidate with the rule it failed or its
score, and the master chosen (the DRAGONS ``calcheck`` question: why was this master, or none, used?)."""

from __future__ import annotations

from typing import Any

import click

from apcal.frames.model import shown_path
from apcal.plan.model import Plan


def explain_to_dict(plan: Plan) -> list[dict[str, Any]]:
    """Every flat job's choices as JSON: per type the candidates (failed rule or score) and the choice."""
    return [
        {
            "job": job.id,
            "masters": [
                {
                    "type": choice.type.value,
                    "chosen": shown_path(choice.chosen) if choice.chosen else None,
                    "reason": choice.reason,
                    "candidates": [
                        {
                            "path": shown_path(v.master.path),
                            "failed": v.failed,
                            "detail": v.detail,
                            "chosen": v.master.path == choice.chosen,
                        }
                        for v in choice.verdicts
                    ],
                }
                for choice in job.choices
            ],
        }
        for job in plan.jobs
        if job.choices
    ]


def print_explanation(plan: Plan) -> None:
    """One block per flat group: each type's choice, then each candidate on a line (✓ chosen, · passed
    but scored lower, ✗ failed: the rule and why); plain lines, never wrapped, so paths stay whole."""
    for job in plan.jobs:
        if not job.choices:
            continue
        click.echo(f"\n{job.id}")
        for choice in job.choices:
            chosen = shown_path(choice.chosen) if choice.chosen else "none"
            click.echo(f"  {choice.type.value}: {chosen} — {choice.reason}")
            for verdict in choice.verdicts:
                path = shown_path(verdict.master.path)
                if verdict.failed is not None:
                    click.echo(f"    ✗ {path}: failed {verdict.failed} ({verdict.detail})")
                elif verdict.master.path == choice.chosen:
                    click.echo(f"    ✓ {path}: chosen, score {verdict.detail}")
                else:
                    click.echo(f"    · {path}: passed, score {verdict.detail}")
            if not choice.verdicts:
                click.echo("    (no library master of this type)")
