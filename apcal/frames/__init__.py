"""Frame discovery and header normalization: which files are calibration frames and what they are."""

from apcal.frames.discovery import Discovery, discover
from apcal.frames.model import Fingerprint, Frame, SkippedFile
from apcal.frames.night import observing_night
from apcal.frames.normalize import MASTER_KEYWORD, frame_type, normalize_keywords, read_frame
from apcal.vocabulary import FrameType, HeaderValue, Keyword

__all__ = [
    "MASTER_KEYWORD",
    "Discovery",
    "Fingerprint",
    "Frame",
    "FrameType",
    "HeaderValue",
    "Keyword",
    "SkippedFile",
    "discover",
    "frame_type",
    "normalize_keywords",
    "observing_night",
    "read_frame",
]
