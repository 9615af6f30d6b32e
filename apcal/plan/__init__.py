"""Jobs a run does: inputs, matched masters, parameters and output paths; both engines take a plan."""

from apcal.plan.model import FlatCalibration, Group, Job, MasterRef, Plan, SkippedGroup

__all__ = ["FlatCalibration", "Group", "Job", "MasterRef", "Plan", "SkippedGroup"]
