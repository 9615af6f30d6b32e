"""Jobs a run does: inputs, matched masters, parameters and output paths; both engines take a plan."""

from apcal.grouping import Group, SkippedGroup
from apcal.plan.model import FlatCalibration, Job, MasterRef, Plan

__all__ = ["FlatCalibration", "Group", "Job", "MasterRef", "Plan", "SkippedGroup"]
