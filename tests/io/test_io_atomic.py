"""atomic_path: a write either lands complete at the final path or leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apcal.io import atomic_path, write_image


class Boom(Exception):
    pass


def test_temp_path_is_hidden_sibling_with_same_extension(tmp_path: Path) -> None:
    final = tmp_path / "masterDark.xisf"
    with atomic_path(final) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".masterDark.xisf.")
        assert tmp.suffix == ".xisf"
        assert ".part" in tmp.name
        tmp.write_bytes(b"data")
    assert final.read_bytes() == b"data"


def test_success_replaces_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    final = tmp_path / "out.fits"
    final.write_bytes(b"old")
    with atomic_path(final) as tmp:
        tmp.write_bytes(b"new content")
        assert final.read_bytes() == b"old"  # not visible until the block ends
    assert final.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fits"]


def test_exception_mid_write_leaves_no_final_and_no_temp(tmp_path: Path) -> None:
    final = tmp_path / "out.xisf"
    with pytest.raises(Boom), atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise Boom
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_previous_file_untouched(tmp_path: Path) -> None:
    final = tmp_path / "out.xisf"
    final.write_bytes(b"previous master")
    with pytest.raises(Boom), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise Boom
    assert final.read_bytes() == b"previous master"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xisf"]


def test_exception_before_anything_is_written(tmp_path: Path) -> None:
    final = tmp_path / "out.fits"
    with pytest.raises(Boom), atomic_path(final):
        raise Boom
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["m.xisf", "m.fits"])
def test_write_image_replaces_existing_master_without_leftovers(tmp_path: Path, name: str) -> None:
    final = tmp_path / name
    write_image(final, np.zeros((4, 5), np.float32), [])
    write_image(final, np.ones((4, 5), np.float32), [])
    assert [p.name for p in tmp_path.iterdir()] == [name]
