"""Bombs: recipes and files a few kilobytes long that expand to gigabytes. Each is refused with one line
and its exit code, within a bounded time and memory, never a crash (SIGSEGV, RecursionError,
MemoryError)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from apcal.vocabulary import Keyword
from tests.hardening.bombs import BILLION_LAUGHS, compressed_xisf, run_measured, zlib_of_zeros
from tests.hardening.corpus import RECIPE, assert_same_masters, donor, last_report, read_fits, run_apcal

HEAD = "apcal: 1\nname: bomb\ninputs: [{path: frames}]\noutput: {dir: out}\n"
RECIPE_BOMBS = {
    "billion_laughs": (
        BILLION_LAUGHS,
        "recipe.yaml:8:5: expands to more than 100000 values through aliases (refused)",
    ),
    "recursive_alias": (
        HEAD + "x: &a [1, *a]\n",
        "recipe.yaml:5:4: expands to more than 100000 values through aliases (refused)",
    ),
    "deep_nesting": (
        HEAD + "x: " + "[" * 5000 + "]" * 5000 + "\n",
        "recipe.yaml: the recipe nests deeper than 64 levels (refused)",
    ),
    "vars_5000_deep": (
        HEAD + "vars:\n" + "".join(f"  v{i}: '${{v{i + 1}}}'\n" for i in range(5000)) + "  v5000: end\n",
        "recipe.yaml:6:7: $.vars.v0: variables refer to variables more than 32 deep (refused)",
    ),
    "vars_exponential": (
        HEAD.replace("name: bomb", "name: '${v40}'")
        + "vars:\n  v0: ab\n"
        + "".join(f"  v{i + 1}: '${{v{i}}}${{v{i}}}'\n" for i in range(40)),
        "recipe.yaml:22:8: $.vars.v16: expands to more than 65536 characters (refused)",
    ),
    "huge_file": (
        HEAD + "# " + "x" * (2 * 1024 * 1024) + "\n",
        "recipe.yaml: larger than 1024 KiB: not a recipe (refused)",
    ),
}


@pytest.mark.parametrize("name", sorted(RECIPE_BOMBS))
def test_a_recipe_bomb_exits_2_with_one_line(night: Path, name: str) -> None:
    text, expected = RECIPE_BOMBS[name]
    (night / "recipe.yaml").write_text(text, encoding="utf-8")
    started = time.monotonic()
    code, stderr, peak = run_measured(["run", "recipe.yaml"], night, timeout=120)
    seconds = time.monotonic() - started
    assert code == 2, stderr
    assert stderr.splitlines() == [expected]
    assert not (night / "out").exists()
    print(f"{name}: exit 2 in {seconds:.2f} s, peak {peak / 2**20:.0f} MiB")  # the figures, with -s


def bias_cards(night: Path) -> list[Keyword]:
    header, _ = read_fits(donor(night))
    return [Keyword(c.keyword, c.value, c.comment) for c in header.cards if c.keyword not in ("", "COMMENT")]


def test_a_zlib_xisf_that_inflates_beyond_its_header_is_refused_within_memory(night: Path, clean) -> None:
    """1 GiB of zeros in 1 MB of zlib, declared as the 48x32 frame it claims to be: the old reader
    inflated it whole (the campaign saw 7.1 GB from 5 MB); now inflating stops past the declared size."""
    bomb = night / "frames" / "bomb.xisf"
    shape = read_fits(donor(night))[1].shape
    compressed_xisf(
        bomb, np.zeros(shape, np.uint16), bias_cards(night), shuffle=False, stream=zlib_of_zeros(2**30)
    )
    assert bomb.stat().st_size < 2 * 2**20
    # The same run without the bomb first: its peak is the baseline (the process's libraries, and numba
    # compiling whatever kernels its cache lacks, can take a few hundred MiB on their own).
    hidden = bomb.rename(night / "bomb.xisf.aside")
    code, stderr, baseline = run_measured(["run", "recipe.yaml", "--force"], night)
    assert code == 0, stderr
    hidden.rename(bomb)
    code, stderr, peak = run_measured(["run", "recipe.yaml", "--force"], night)
    assert code == 1, stderr
    assert f"{bomb}: XISF data inflates to more than the {2 * shape[0] * shape[1]} bytes declared" in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    # Inflating the whole stream would add 1 GiB; stopping past the declared size adds nothing to speak of.
    assert peak < baseline + 128 * 2**20, f"peak {peak / 2**20:.0f} MiB, baseline {baseline / 2**20:.0f} MiB"
    bomb.unlink()
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    assert_same_masters(night, clean)


def test_a_declared_size_unlike_the_geometry_is_skipped_before_inflating(night: Path, clean) -> None:
    liar = night / "frames" / "liar.xisf"
    shape = read_fits(donor(night))[1].shape
    compressed_xisf(liar, np.zeros(shape, np.uint16), bias_cards(night), declared=2**31)
    code, stderr, _ = run_measured(["run", "recipe.yaml", "-q"], night)
    assert code == 0, stderr
    needs = 2 * shape[0] * shape[1]
    reasons = {s["path"]: s["reason"] for s in last_report(night)["skipped_files"]}
    said = f"{liar}: XISF compressed data declares {2**31} bytes, the image needs {needs}"
    assert reasons[str(liar)] == said
    assert_same_masters(night, clean)


def test_a_geometry_above_the_maximum_is_skipped_at_discovery(night: Path, clean) -> None:
    big = night / "frames" / "big.xisf"
    compressed_xisf(
        big, np.zeros((4, 4), np.uint16), bias_cards(night), declared=4 * 10**10, geometry="200000:100000:1"
    )
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    reasons = {s["path"]: s["reason"] for s in last_report(night)["skipped_files"]}
    assert reasons[str(big)] == (
        f"{big}: image of 20000 million samples (200000x100000) is larger than "
        "headers.max_image_megapixels (1000): refused"
    )
    assert_same_masters(night, clean)


def test_compressed_frames_are_read_in_blocks_within_memory_limit(night: Path, tmp_path: Path) -> None:
    """Six 3000x4000 bias frames, zlib+sh compressed, integrate to the same master as the same frames
    uncompressed, and the run's peak memory is no higher (the old reader held every frame inflated)."""
    rng = np.random.default_rng(7)
    cards = [k for k in bias_cards(night) if k.name not in ("NAXIS1", "NAXIS2")]
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    for folder in (plain, packed):
        (folder / "frames").mkdir(parents=True)
        (folder / "recipe.yaml").write_text(RECIPE + "engine: {memory_limit: 64MiB}\n", encoding="utf-8")
    from apcal.io.image import write_image

    for i in range(6):
        data = (1000 + rng.integers(0, 64, size=(3000, 4000))).astype(np.uint16)
        frame_cards = [*cards, Keyword("FRAMENUM", i, "")]
        compressed_xisf(packed / "frames" / f"b{i}.xisf", data, frame_cards)
        write_image(plain / "frames" / f"b{i}.xisf", data.astype(np.float32) / 65535, frame_cards)
    code_plain, err_plain, peak_plain = run_measured(["run", "recipe.yaml", "-q"], plain)
    code_packed, err_packed, peak_packed = run_measured(["run", "recipe.yaml", "-q"], packed)
    assert code_plain == 0, err_plain
    assert code_packed == 0, err_packed
    from tests.hardening.corpus import masters

    got, want = masters(packed), masters(plain)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-7)
    frames_bytes = 6 * 3000 * 4000 * 2
    assert peak_packed < peak_plain + frames_bytes / 4, (peak_plain, peak_packed)
    print(f"peak plain {peak_plain / 2**20:.0f} MiB, compressed {peak_packed / 2**20:.0f} MiB")
