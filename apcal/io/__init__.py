"""Image file I/O: FITS (via astropy) and XISF (our own reader and writer), plus atomic writes."""

from apcal.io.atomic import atomic_path
from apcal.io.base import HeaderInfo, ImageReader, image_format
from apcal.io.image import open_image, read_header, write_image

__all__ = [
    "HeaderInfo",
    "ImageReader",
    "atomic_path",
    "image_format",
    "open_image",
    "read_header",
    "write_image",
]
