"""Are two runs' masters bit-identical? (not a test; the check CONTRIBUTING.md asks for around a change)

    python bench/same_masters.py BEFORE_FOLDER AFTER_FOLDER

Compares every image (.xisf, .fits, .fit) under BEFORE_FOLDER with the file at the same relative path
under AFTER_FOLDER, pixel for pixel (the data as read, not the file bytes, which hold run dates and
paths). Prints one line per image and exits non-zero when any differs or is missing on either side, or
when there is nothing to compare.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from apcal.io.image import open_image

SUFFIXES = (".xisf", ".fits", ".fit")


def read_all(path: Path) -> np.ndarray:
    """The whole image's pixels."""
    with open_image(path) as reader:
        return np.array(reader.read_rows(0, reader.rows))


def images(root: Path) -> set[Path]:
    """Every image under root, as paths relative to it."""
    return {p.relative_to(root) for p in root.rglob("*") if p.suffix.lower() in SUFFIXES}


def compare(before: Path, after: Path) -> int:
    """Print each image's verdict; 0 when every image is on both sides and identical."""
    left, right = images(before), images(after)
    if not left | right:
        print(f"no images under {before} or {after}")
        return 1
    failures = 0
    for rel in sorted(left | right):
        if rel not in left or rel not in right:
            print(f"MISSING   {rel} (only under {after if rel in right else before})")
            failures += 1
            continue
        a, b = read_all(before / rel), read_all(after / rel)
        same = a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
        if not same:
            diff = float(np.nanmax(np.abs(a.astype(np.float64) - b))) if a.shape == b.shape else float("nan")
            print(f"DIFFERENT {rel} (largest difference {diff:.3g})")
            failures += 1
        else:
            print(f"identical {rel} {a.shape} {a.dtype}")
    print(f"{len(left | right) - failures} of {len(left | right)} images bit-identical")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(compare(Path(sys.argv[1]), Path(sys.argv[2])))
