"""Packed-mask morphology against plain boolean definitions, on random masks of awkward widths."""

from __future__ import annotations

import numpy as np
import pytest

from printfleet.estimate import bitmask
from printfleet.estimate.bitmask import Bits


def _neighbour(mask: np.ndarray, dr: int, dc: int, outside: bool) -> np.ndarray:
    """Each cell's neighbour at (row + dr, column + dc); ``outside`` beyond the grid."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)), constant_values=outside)
    rows, cols = mask.shape[1:]
    return padded[:, 1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]


def _erode_reference(mask: np.ndarray, steps: int) -> np.ndarray:
    m = mask
    for i in range(steps):
        e = m.copy()
        offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
        if i % 2 == 1:
            offsets += [(-1, -1), (1, 1), (-1, 1), (1, -1)]
        for dr, dc in offsets:
            e &= _neighbour(m, dr, dc, outside=True)
        m = e
    return m


def _box_reference(mask: np.ndarray, radius: int) -> np.ndarray:
    out = np.zeros_like(mask)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            shifted = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
            rows, cols = mask.shape[1:]
            out |= shifted[:, radius + dr : radius + dr + rows, radius + dc : radius + dc + cols]
    return out


def _edges_reference(mask: np.ndarray) -> np.ndarray:
    across = (mask[:, :, 1:] != mask[:, :, :-1]).sum(axis=(1, 2))
    along = (mask[:, 1:, :] != mask[:, :-1, :]).sum(axis=(1, 2))
    return (across + along).astype(float)


@pytest.fixture(params=[(3, 9, 13), (2, 17, 16), (4, 11, 29), (1, 5, 7)], ids=lambda s: "x".join(map(str, s)))
def mask(request) -> np.ndarray:
    rng = np.random.default_rng(sum(request.param))
    return rng.random(request.param) < 0.6


def test_pack_round_trip_and_counts(mask: np.ndarray):
    bits = Bits.pack(mask)
    assert np.array_equal(bits.unpack(), mask)
    assert np.array_equal(bits.count_layers(), mask.sum(axis=(1, 2)).astype(float))
    assert np.array_equal((~bits).unpack(), ~mask)
    assert np.array_equal((~bits).count_layers(), (~mask).sum(axis=(1, 2)).astype(float))  # padding stays 0


@pytest.mark.parametrize("step", [1, -1, 3, -5, 7])
@pytest.mark.parametrize("fill", [False, True])
def test_shift_columns(mask: np.ndarray, step: int, fill: bool):
    cols = mask.shape[2]
    expected = np.full_like(mask, fill)
    if step > 0:
        expected[:, :, step:] = mask[:, :, : cols - step] if step < cols else expected[:, :, step:]
    else:
        expected[:, :, : cols + step] = mask[:, :, -step:]
    assert np.array_equal(Bits.pack(mask).shift_columns(step, fill).unpack(), expected)


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_erode_and_dilate(mask: np.ndarray, steps: int):
    bits = Bits.pack(mask)
    assert np.array_equal(bitmask.erode(bits, steps).unpack(), _erode_reference(mask, steps))
    assert np.array_equal(bitmask.dilate(bits, steps).unpack(), ~_erode_reference(~mask, steps))


@pytest.mark.parametrize("radius", [1, 2, 5, 9])
def test_dilate_box(radius: int):
    sparse = np.random.default_rng(radius).random((3, 23, 37)) < 0.02
    assert np.array_equal(
        bitmask.dilate_box(Bits.pack(sparse), radius).unpack(), _box_reference(sparse, radius)
    )


def test_dilate_layers_leaves_empty_layers_alone():
    mask = np.zeros((3, 12, 21), dtype=bool)
    mask[1, 6, 10] = True
    grown = bitmask.dilate_layers(Bits.pack(mask), 4).unpack()
    assert not grown[0].any() and not grown[2].any()
    assert np.array_equal(grown[1], _box_reference(mask[1:2], 4)[0])  # round(4 * 0.91) = 4


def test_edges(mask: np.ndarray):
    assert np.array_equal(bitmask.edges(Bits.pack(mask)), _edges_reference(mask))
