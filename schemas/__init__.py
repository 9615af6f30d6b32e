"""JSON Schemas for apcal recipes and run reports, shipped inside the package as ``apcal.schemas``."""
