"""The catalogue of a library root: an SQLite index of every master under it.

The masters stay the truth; ``<root>/.apcal/catalog.sqlite`` only remembers what their headers and
pixels said (path, size, mtime, content hash, type, configuration, exposure, temperatures, night,
NCOMBINE, provenance cards, QC figures), so that a command answers without reading every master again.
:meth:`Catalog.refresh` re-reads only the files whose size or mtime changed, forgets removed ones, and
reports each new, changed, removed and unreadable file; every command refreshes before it answers, and
deleting the file loses nothing but time (a catalogue of another :data:`SCHEMA_VERSION` is emptied
and refilled the same way). Marks (good / bad with a reason) are not derived from the
masters, so they are kept in ``<root>/.apcal/marks.jsonl``, an append-only journal keyed by content
hash: a rebuilt catalogue lists the same statuses, and a master moved or renamed keeps its mark.

Concurrency: SQLite in WAL mode (readers never wait for a writer), every change in one ``BEGIN
IMMEDIATE`` transaction (two writers take turns, waiting up to :data:`BUSY_SECONDS`), rows keyed by
path (``INSERT OR REPLACE``), so two runs refreshing or publishing at once each leave every master
catalogued once; journal lines are appended with one ``write`` on an ``O_APPEND`` file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType

from apcal.errors import ApcalError, FrameError
from apcal.frames.discovery import FRAME_EXTENSIONS, content_hash
from apcal.frames.model import Frame
from apcal.frames.normalize import read_frame
from apcal.io.temporary_names import is_temporary
from apcal.library.dark_current import with_dark_current
from apcal.library.folders import not_a_master
from apcal.library.qc import qc_figures
from apcal.library.records import CATALOGUED_TYPES, MasterRecord, dumps, record_from_frame
from apcal.recipe.model import Headers
from apcal.vocabulary import FrameType

CATALOG_DIR = ".apcal"
CATALOG_NAME = "catalog.sqlite"
MARKS_NAME = "marks.jsonl"
BUSY_SECONDS = 120.0
SCHEMA_VERSION = 1

_TABLES = (
    """CREATE TABLE IF NOT EXISTS masters (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
        type TEXT NOT NULL, config TEXT NOT NULL, keys TEXT NOT NULL, exposure REAL, set_temp REAL,
        ccd_temp REAL, night TEXT, ncombine INTEGER, provenance TEXT NOT NULL, qc TEXT NOT NULL,
        shape TEXT NOT NULL, keywords TEXT NOT NULL, header_hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS others (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, reason TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_COLUMNS = (
    "path, size, mtime_ns, sha256, type, config, keys, exposure, set_temp, ccd_temp, night, ncombine, "
    "provenance, qc, shape, keywords, header_hash"
)


class LibraryError(ApcalError):
    """A library root or master that cannot be used (not a folder, not catalogued); exit code 2."""


@dataclass(frozen=True)
class Refresh:
    """What one refresh found: paths relative to the root, unreadable and non-master files with why."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    not_masters: tuple[tuple[str, str], ...] = ()
    unchanged: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "new": list(self.new),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
            "not_masters": [{"path": p, "reason": r} for p, r in self.not_masters],
            "unchanged": self.unchanged,
        }


def library_files(root: Path) -> dict[str, tuple[int, int]]:
    """Every frame file under ``root`` (hidden folders such as .apcal and apcal's temporary files
    left out) as relative POSIX path -> (size, mtime_ns)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if is_temporary(name) or not name.casefold().endswith(FRAME_EXTENSIONS):
                continue
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:
                continue
            found[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


def _record_row(r: MasterRecord) -> tuple[object, ...]:
    return (
        r.path,
        r.size,
        r.mtime_ns,
        r.sha256,
        r.type.value,
        r.config_id,
        dumps(r.keys),
        r.exposure,
        r.set_temp,
        r.ccd_temp,
        r.night.isoformat() if r.night else None,
        r.ncombine,
        dumps(r.provenance),
        dumps(r.qc),
        dumps(list(r.shape)),
        dumps(r.keywords),
        r.header_hash,
    )


def _row_record(row: sqlite3.Row, marks: dict[str, tuple[str, str | None]]) -> MasterRecord:
    status, reason = marks.get(row["sha256"], ("good", None))
    return MasterRecord(
        path=row["path"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        sha256=row["sha256"],
        type=FrameType(row["type"]),
        keys=json.loads(row["keys"]),
        exposure=row["exposure"],
        set_temp=row["set_temp"],
        ccd_temp=row["ccd_temp"],
        night=date.fromisoformat(row["night"]) if row["night"] else None,
        ncombine=row["ncombine"],
        provenance=json.loads(row["provenance"]),
        qc=json.loads(row["qc"]),
        status=status,
        reason=reason,
        shape=tuple(json.loads(row["shape"])),
        keywords=json.loads(row["keywords"]),
        header_hash=row["header_hash"],
    )


class Catalog:
    """An open catalogue of the library ``root`` (created on first use); a context manager."""

    def __init__(self, root: Path, headers: Headers):
        self.root = Path(root).absolute()
        if not self.root.is_dir():
            raise LibraryError(f"{self.root}: the library root does not exist or is not a folder")
        self.headers = headers
        folder = self.root / CATALOG_DIR
        folder.mkdir(exist_ok=True)
        self.path = folder / CATALOG_NAME
        self.marks_path = folder / MARKS_NAME
        self._db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        with self.transaction() as db:
            for statement in _TABLES:
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if row is not None and row["value"] != str(SCHEMA_VERSION):
                # written by another apcal version: an index only, so forget it and read the masters again
                db.execute("DELETE FROM masters")
                db.execute("DELETE FROM others")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so writers never interleave."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- refresh -------------------------------------------------------------------------------------

    def _known(self) -> dict[str, tuple[int, int]]:
        rows = self._db.execute(
            "SELECT path, size, mtime_ns FROM masters UNION ALL SELECT path, size, mtime_ns FROM others"
        ).fetchall()
        return {r["path"]: (r["size"], r["mtime_ns"]) for r in rows}

    def _read(self, relative: str) -> MasterRecord | str:
        """The record of the master at ``relative``, or why it is not one (or is unreadable)."""
        path = self.root / relative
        try:
            frame = read_frame(path, self.headers)
        except (FrameError, OSError) as exc:
            return f"unreadable: {exc}"
        if not frame.is_master:
            return not_a_master(frame)
        if frame.type not in CATALOGUED_TYPES:
            return f"{frame.type.master_label.lower()} is not catalogued"
        try:
            return record_from_frame(frame, relative, content_hash(path), qc_figures(frame))
        except (FrameError, OSError, ValueError) as exc:
            return f"unreadable: {exc}"

    def refresh(self, only: Sequence[str] | None = None) -> Refresh:
        """Bring the catalogue up to date with the files under the root (or only the ``only`` paths)."""
        files = library_files(self.root)
        known = self._known()
        if only is not None:
            files = {p: files[p] for p in only if p in files}
            known = {p: known[p] for p in only if p in known}
        todo = sorted(p for p, st in files.items() if known.get(p) != st)
        removed = sorted(p for p in known if p not in files)
        records: list[MasterRecord] = []
        others: list[tuple[str, int, int, str]] = []
        for relative in todo:
            found = self._read(relative)
            if isinstance(found, MasterRecord):
                records.append(found)
            else:
                others.append((relative, *files[relative], found))
        with self.transaction() as db:
            for relative in (*removed, *todo):
                db.execute("DELETE FROM masters WHERE path = ?", (relative,))
                db.execute("DELETE FROM others WHERE path = ?", (relative,))
            db.executemany(
                f"INSERT OR REPLACE INTO masters ({_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                [_record_row(r) for r in records],
            )
            db.executemany("INSERT OR REPLACE INTO others VALUES (?, ?, ?, ?)", others)
        return Refresh(
            new=tuple(r.path for r in records if r.path not in known),
            changed=tuple(r.path for r in records if r.path in known),
            removed=tuple(removed),
            unreadable=tuple((p, why) for p, _, _, why in others if why.startswith("unreadable")),
            not_masters=tuple((p, why) for p, _, _, why in others if not why.startswith("unreadable")),
            unchanged=len(files) - len(todo),
        )

    # -- answers -------------------------------------------------------------------------------------

    def marks(self) -> dict[str, tuple[str, str | None]]:
        """Content hash -> (status, reason), the journal's last word on each master."""
        found: dict[str, tuple[str, str | None]] = {}
        try:
            lines = self.marks_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            try:
                entry = json.loads(line)
                found[entry["sha256"]] = (entry["status"], entry.get("reason"))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash: the ones before and after still count
        return found

    def records(self, frame_type: FrameType | None = None) -> list[MasterRecord]:
        """Every catalogued master (of ``frame_type``), sorted by path, with its mark and, for darks,
        the dark current derived from the rig's bias (:mod:`apcal.library.dark_current`)."""
        marks = self.marks()
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM masters ORDER BY path").fetchall()
        records = with_dark_current([_row_record(row, marks) for row in rows])
        return [r for r in records if frame_type is None or r.type is frame_type]

    def others(self) -> list[tuple[str, str]]:
        rows = self._db.execute("SELECT path, reason FROM others ORDER BY path").fetchall()
        return [(r["path"], r["reason"]) for r in rows]

    def find(self, master: Path) -> MasterRecord | None:
        """The record of ``master`` (a path under the root), or None."""
        try:
            relative = Path(master).absolute().relative_to(self.root).as_posix()
        except ValueError:
            return None
        return next((r for r in self.records() if r.path == relative), None)

    def with_hash(self, sha256: str) -> list[MasterRecord]:
        return [r for r in self.records() if r.sha256 == sha256]

    def mark(self, record: MasterRecord, status: str, reason: str | None) -> None:
        """Mark ``record`` good or bad (with why): one line appended to the journal."""
        entry = {
            "sha256": record.sha256,
            "status": status,
            "reason": reason,
            "path": record.path,
            "marked": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.marks_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def frames(self) -> list[Frame]:
        """The catalogued masters that calibrate flats, as frames for matching."""
        return [r.frame(self.root) for r in self.records() if r.type is not FrameType.FLAT]

    def bad(self) -> dict[Path, str]:
        """Path -> reason of every master marked bad."""
        return {
            self.root / r.path: r.reason or "no reason given" for r in self.records() if r.status == "bad"
        }
