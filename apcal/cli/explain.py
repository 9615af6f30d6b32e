"""``apcal plan --explain``: for each flat group, every library candidate with the rule it failed or its
score, and the master chosen (the DRAGONS ``calcheck`` question: why was this master, or none, used?)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

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


def print_explanation(out: Console, plan: Plan) -> None:
    """One block per flat group: each type's choice, then each candidate on a line (✓ chosen, · passed
    but scored lower, ✗ failed: the rule and why)."""
    for job in plan.jobs:
        if not job.choices:
            continue
        out.print(f"\n[bold]{escape(job.id)}[/bold]")
        for choice in job.choices:
            chosen = shown_path(choice.chosen) if choice.chosen else "none"
            out.print(f"  {choice.type.value}: {escape(chosen)} — {escape(choice.reason)}")
            for verdict in choice.verdicts:
                path = escape(shown_path(verdict.master.path))
                if verdict.failed is not None:
                    out.print(f"    ✗ {path}: failed {escape(verdict.failed)} ({escape(verdict.detail)})")
                elif verdict.master.path == choice.chosen:
                    out.print(f"    ✓ {path}: chosen, score {escape(verdict.detail)}")
                else:
                    out.print(f"    · {path}: passed, score {escape(verdict.detail)}")
            if not choice.verdicts:
                out.print("    (no library master of this type)")
