"""apcal: build master bias, dark and flat calibration frames from declarative YAML recipes."""

__version__ = "0.1.0"
