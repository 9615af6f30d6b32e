"""Reading what siril-cli printed: whether it failed, why, and how much it rejected.

Siril does not always stop on a problem: 1.0.6 stacking a sequence with a frame it cannot read prints
``Error reading one of the image areas``, stacks the rest and ends with ``Script execution finished
successfully`` and exit code 0. So a job is failed on any of Siril's error lines, not only on its exit
code, and the message is Siril's own line.
"""

from __future__ import annotations

import re

# Siril's log lines ("log: ..." in siril-cli's output) that mean the master cannot be trusted.
_ERROR = re.compile(
    r"^(?:log:\s*)?(.*\b(?:error|failed|cannot|aborting|not enough|not supported|unsupported)\b.*)$",
    re.IGNORECASE,
)
_REJECTION = re.compile(r"Pixel rejection in channel #\d+:\s*([0-9.]+)%\s*-\s*([0-9.]+)%")
# Lines that carry the words above without reporting a problem.
_BENIGN = ("Script execution finished successfully", "succeeded")


def siril_errors(text: str) -> list[str]:
    """Siril's error lines in ``text``, in order, each stripped of its ``log:`` prefix."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("log:") or any(b in line for b in _BENIGN):
            continue
        if line[4:].lstrip().startswith("#"):  # Siril echoes the script's comment lines
            continue
        match = _ERROR.match(line)
        if match:
            found.append(match.group(1).strip())
    return found


def failure_message(text: str) -> str:
    """One line saying why Siril failed: its first error lines (those after are mostly consequences)."""
    errors = [e for e in siril_errors(text) if not e.startswith(("Exiting batch", "Script execution failed"))]
    if not errors:
        errors = siril_errors(text)
    return "Siril: " + "; ".join(errors[:2]) if errors else ""


def rejected_fractions(text: str) -> tuple[float, float] | None:
    """The low and high rejected fractions Siril printed for the stack, averaged over channels."""
    values = [(float(lo), float(hi)) for lo, hi in _REJECTION.findall(text)]
    if not values:
        return None
    return (
        sum(v[0] for v in values) / len(values) / 100.0,
        sum(v[1] for v in values) / len(values) / 100.0,
    )
