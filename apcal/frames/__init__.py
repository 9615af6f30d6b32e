"""Frame discovery and header normalization: which files are calibration frames and what they are."""

from apcal.frames.model import Fingerprint, Frame, FrameType, HeaderValue, Keyword, SkippedFile

__all__ = ["Fingerprint", "Frame", "FrameType", "HeaderValue", "Keyword", "SkippedFile"]
