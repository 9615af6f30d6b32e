"""Discovery: walk the recipe's input folders and read every candidate frame's header exactly once.

Rules, in the order they apply:

* Only files ending in .fit, .fits, .fts or .xisf (any case) are candidates. Names starting with a dot
  (files and folders) are never looked at. Symbolic links are followed; a folder reached twice (a link
  loop, or two input sets that overlap) is walked once, and a file reached twice counts once.
* ``include`` globs (an :class:`~apcal.recipe.model.InputSet` field) are matched against the path
  relative to the input root, case-insensitively. A pattern without '/' matches the file name in any
  folder ('*.fit'); with '/', the whole relative path, where '**' spans any number of folders
  ('darks/**/*.fits'). ``exclude`` globs use the same syntax, and a pattern also excludes everything
  below a folder it matches ('_stash', '**/_stash/**', 'old/2019').
* A file whose header cannot be read, or names no known frame type, is skipped with the reason; so is
  a file shorter than the data its header declares (truncated by a full disk or an interrupted copy),
  and one whose header holds impossible values (EXPOSURE -1, CCD-TEMP 999): see
  :func:`~apcal.frames.normalize.read_frame`. Lights are skipped ("light frame (ignored)"), and so are
  masters (they are never stacked again).
* Other files (JPEGs, text, ...) are listed as skipped, "not a frame file", so ``plan --files`` shows
  everything a folder holds that a run does not use; files an ``include`` glob leaves out are not.
* Frames compressed as whole files (``.fits.fz`` from fpack, ``.fits.gz``, ...) are not read: they are
  listed as skipped, with the command that decompresses them. (Tile-compressed images inside a
  ``.fits`` file are read.)
* A file whose name is not valid UTF-8 (bytes from another system's encoding) is skipped with a
  reason: its name could not be written to the log, the report or a PixInsight script faithfully.
  A symbolic link that loops or points nowhere is skipped with that reason.
* Byte-identical files (the same frame copied twice) are stacked once: files with the same size and
  header hash are candidates, and only those have their full content hashed; the copy with the
  shortest name is kept and the others are skipped as "duplicate of <kept>".

Everything is returned in sorted path order, so two runs over the same folders agree.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from apcal.errors import FrameError
from apcal.frames.model import Frame, SkippedFile
from apcal.frames.normalize import read_frame
from apcal.vocabulary import FrameType

if TYPE_CHECKING:  # apcal.recipe.model imports apcal.frames.model: no runtime import back
    from apcal.recipe.model import Headers, InputSet

FRAME_EXTENSIONS = (".fit", ".fits", ".fts", ".xisf")
NOT_A_FRAME = "not a frame file"
#: Whole-file compression of a frame, and how to undo it.
COMPRESSED_EXTENSIONS = {
    ".fz": "funpack",
    ".gz": "gunzip",
    ".bz2": "bunzip2",
    ".xz": "unxz",
    ".zip": "unzip",
}


class Discovery(NamedTuple):
    """Calibration frames to group (bias, dark, flat, flat-dark; never lights or masters) and the rest."""

    frames: tuple[Frame, ...]
    skipped: tuple[SkippedFile, ...]


class _Candidate(NamedTuple):
    path: Path
    identity: tuple[int, int] | None  # (st_dev, st_ino); None for a broken link or a file not read
    skip: str | None = None  # why the file is listed but not read


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with '**' (any number of folders), '*', '?' and '[...]' to a regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                out.append(re.escape(ch))
                i += 1
                continue
            body = pattern[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _clean(pattern: str) -> str:
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.lstrip("/")


def glob_match(pattern: str, relative: str) -> bool:
    """True when ``relative`` (a '/'-separated path) matches ``pattern`` (see the module docstring)."""
    pattern = _clean(pattern)
    target = relative if "/" in pattern else PurePosixPath(relative).name
    return _glob_regex(pattern).fullmatch(target) is not None


def is_excluded(patterns: Sequence[str], relative: str) -> bool:
    """True when ``relative`` or any folder above it matches one of the exclude ``patterns``."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    return any(glob_match(p, prefix) for p in patterns for prefix in prefixes)


def is_included(patterns: Sequence[str], relative: str) -> bool:
    """True when ``relative`` has a frame extension and matches an include pattern (all, when none)."""
    if not relative.casefold().endswith(FRAME_EXTENSIONS):
        return False
    return not patterns or any(glob_match(p, relative) for p in patterns)


def compressed_frame(relative: str) -> str | None:
    """For a compressed frame's name ('x.fits.fz', 'x.fz', 'x.xisf.gz'), the command that restores it."""
    name = relative.casefold()
    for ext, command in COMPRESSED_EXTENSIONS.items():
        if name.endswith(ext) and (ext == ".fz" or name[: -len(ext)].endswith(FRAME_EXTENSIONS)):
            return command
    return None


def _name_problem(path: Path) -> str | None:
    """Why ``path``'s name cannot be used (not valid UTF-8), or None."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8 (rename the file)"
    return None


def _link_problem(path: Path) -> str:
    """Why a symbolic link does not lead to a file."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "broken symbolic link"
        return f"broken symbolic link ({exc.strerror or exc})"
    return "symbolic link to something that is not a file"


def _walk(input_set: InputSet, skipped: list[SkippedFile]) -> Iterator[_Candidate]:
    """Depth-first, name-sorted walk following links; each folder (by device and inode) visited once.

    The visited set is per input set, so overlapping sets with different filters each see every folder;
    files reached by both are merged afterwards by identity.
    """
    root = Path(input_set.path)
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = root.stat()
    except OSError as exc:
        skipped.append(SkippedFile(root, f"input folder cannot be read ({exc.strerror or exc})"))
        return
    if not root.is_dir():
        skipped.append(SkippedFile(root, "input path is not a folder"))
        return
    seen_dirs.add((st.st_dev, st.st_ino))
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(folder, f"folder cannot be listed ({exc.strerror or exc})"))
            continue
        subfolders: list[tuple[Path, str]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            if is_excluded(input_set.exclude, child_rel):
                continue
            path = folder / entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError:
                is_dir = is_file = False
            if is_dir:
                if input_set.recursive and _first_visit(entry, seen_dirs):
                    subfolders.append((path, child_rel))
                continue
            candidate = _file_candidate(input_set, entry, path, child_rel, is_file)
            if candidate is not None:
                yield candidate
        stack.extend(reversed(subfolders))


def _first_visit(entry: os.DirEntry[str], seen_dirs: set[tuple[int, int]]) -> bool:
    """True (and ``entry`` noted as seen) for a folder not met before by device and inode."""
    try:
        est = entry.stat(follow_symlinks=True)
    except OSError:
        return False
    key = (est.st_dev, est.st_ino)
    if key in seen_dirs:
        return False
    seen_dirs.add(key)
    return True


def _file_candidate(
    input_set: InputSet, entry: os.DirEntry[str], path: Path, child_rel: str, is_file: bool
) -> _Candidate | None:
    """What a non-folder entry yields: a frame to read (included), a compressed frame or a file that
    is not a frame to report, or nothing."""
    if is_included(input_set.include, child_rel):
        if is_file:
            est = entry.stat(follow_symlinks=True)
            return _Candidate(path, (est.st_dev, est.st_ino))
        return _Candidate(path, None) if entry.is_symlink() else None
    if is_file and (command := compressed_frame(child_rel)) is not None:
        stem = child_rel.rsplit(".", 1)[0]
        if input_set.include and not any(glob_match(p, stem) for p in input_set.include):
            return None
        ext = "." + child_rel.rsplit(".", 1)[1]
        return _Candidate(path, None, f"{_compressed_kind(ext)} is not read: {command} it first")
    if is_file and not child_rel.casefold().endswith(FRAME_EXTENSIONS):
        return _Candidate(path, None, f"{NOT_A_FRAME} ({Path(entry.name).suffix or 'no extension'})")
    return None


def _compressed_kind(ext: str) -> str:
    return f"fpack-compressed file ({ext})" if ext.casefold() == ".fz" else f"compressed file ({ext})"


def content_hash(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def drop_duplicates(frames: Sequence[Frame]) -> tuple[list[Frame], list[SkippedFile]]:
    """Keep one of each set of byte-identical files; the others become skipped duplicates.

    Only frames sharing size and header hash are compared, and only those have their content hashed,
    so a folder without duplicates costs no pixel reading. The copy kept is the one with the shortest
    file name (copies gain ' (1)' or ' - Copy'), then the shortest path, then the first in path order:
    a rule of names only, since copying may or may not preserve modification times.
    """
    ordered = sorted(frames, key=lambda f: str(f.path))
    buckets: dict[tuple[int, str], list[Frame]] = defaultdict(list)
    preferred = sorted(ordered, key=lambda f: (len(f.path.name), len(str(f.path)), str(f.path)))
    for frame in preferred:
        buckets[(frame.fingerprint.size, frame.fingerprint.header_hash)].append(frame)
    duplicates: dict[Path, SkippedFile] = {}
    for bucket in buckets.values():
        if len(bucket) < 2:
            continue
        first_by_content: dict[str, Frame] = {}
        for frame in bucket:
            try:
                digest = content_hash(frame.path)
            except OSError:
                continue  # unreadable now: keep it; the engine will report the file
            first = first_by_content.setdefault(digest, frame)
            if first is not frame:
                duplicates[frame.path] = SkippedFile(frame.path, f"duplicate of {first.path}")
    kept = [f for f in ordered if f.path not in duplicates]
    return kept, sorted(duplicates.values(), key=lambda s: str(s.path))


def scan(inputs: Sequence[InputSet], headers: Headers) -> tuple[list[Frame], list[SkippedFile]]:
    """Every readable frame of any type (lights and masters included) and every unreadable file."""
    skipped: list[SkippedFile] = []
    candidates: list[_Candidate] = []
    for input_set in inputs:
        candidates.extend(_walk(input_set, skipped))
    candidates.sort(key=lambda c: str(c.path))
    seen_files: set[tuple[int, int] | Path] = set()
    frames: list[Frame] = []
    for candidate in candidates:
        identity = candidate.identity or candidate.path
        if identity in seen_files:
            continue
        seen_files.add(identity)
        if candidate.skip is not None:
            skipped.append(SkippedFile(candidate.path, candidate.skip))
            continue
        if candidate.identity is None:
            skipped.append(SkippedFile(candidate.path, _link_problem(candidate.path)))
            continue
        problem = _name_problem(candidate.path)
        if problem is not None:
            skipped.append(SkippedFile(candidate.path, problem))
            continue
        try:
            frames.append(read_frame(candidate.path, headers))
        except (FrameError, OSError) as exc:
            skipped.append(SkippedFile(candidate.path, str(exc)))
    return frames, skipped


def discover(inputs: Sequence[InputSet], headers: Headers) -> Discovery:
    """Find the calibration frames under ``inputs`` (see the module docstring for every rule)."""
    frames, skipped = scan(inputs, headers)
    usable: list[Frame] = []
    for frame in frames:
        if frame.type is FrameType.LIGHT:
            skipped.append(SkippedFile(frame.path, "light frame (ignored)"))
        elif frame.is_master:
            skipped.append(
                SkippedFile(frame.path, f"{frame.type.master_label.lower()} (masters are not stacked)")
            )
        else:
            usable.append(frame)
    kept, duplicates = drop_duplicates(usable)
    skipped.extend(duplicates)
    return Discovery(tuple(kept), tuple(sorted(skipped, key=lambda s: (str(s.path), s.reason))))


__all__ = [
    "COMPRESSED_EXTENSIONS",
    "FRAME_EXTENSIONS",
    "NOT_A_FRAME",
    "Discovery",
    "compressed_frame",
    "discover",
    "drop_duplicates",
    "glob_match",
    "scan",
]
