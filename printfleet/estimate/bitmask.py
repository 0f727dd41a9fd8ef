"""Stacks of layer masks packed eight cells to a byte, and the morphology the layer model needs on them.

A :class:`Bits` holds a (layers, rows, columns) boolean grid as ``np.packbits`` bytes along the columns
(bit 7 of byte ``b`` is column ``8 b``). Bitwise operators work on whole bytes, so the layer model's many
mask operations touch an eighth of the memory; shifts along a row carry bits between neighbouring bytes.
Padding bits past the last column are kept zero by every operation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

_POPCOUNT = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)


@functools.lru_cache(maxsize=64)
def _valid_bits(columns: int) -> np.ndarray:
    valid = np.packbits(np.ones(columns, dtype=bool))
    valid.flags.writeable = False
    return valid


def _popcount(data: np.ndarray) -> np.ndarray:
    """Set bits per byte (numpy 2's bitwise_count, or a table)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(data)
    return np.take(_POPCOUNT, data)


@dataclass(frozen=True)
class Bits:
    """A packed (layers, rows, columns) mask: ``data`` is (layers, rows, ceil(columns / 8)) uint8."""

    data: np.ndarray
    columns: int

    @classmethod
    def pack(cls, mask: np.ndarray) -> Bits:
        """Pack a boolean (layers, rows, columns) array."""
        return cls(np.packbits(mask, axis=2), mask.shape[2])

    def unpack(self) -> np.ndarray:
        return np.unpackbits(self.data, axis=2, count=self.columns).astype(bool)

    def like(self, data: np.ndarray) -> Bits:
        return Bits(data, self.columns)

    @property
    def valid(self) -> np.ndarray:
        """The bytes' bits that are real columns (per byte of a row)."""
        return _valid_bits(self.columns)

    def __and__(self, other: Bits) -> Bits:
        return self.like(self.data & other.data)

    def __or__(self, other: Bits) -> Bits:
        return self.like(self.data | other.data)

    def __invert__(self) -> Bits:
        return self.like(~self.data & self.valid)

    def and_not(self, other: Bits) -> Bits:
        """Cells set here and not in ``other``."""
        return self.like(self.data & ~other.data)

    def copy(self) -> Bits:
        return self.like(self.data.copy())

    def count_layers(self) -> np.ndarray:
        """Set cells per layer (float64)."""
        counts = _popcount(self.data).reshape(len(self.data), -1)
        return counts.sum(axis=1, dtype=np.int64).astype(np.float64)

    def any_layers(self) -> np.ndarray:
        """Whether each layer has a set cell."""
        return self.data.reshape(len(self.data), -1).any(axis=1)

    def shift_columns(self, step: int, fill: bool = False) -> Bits:
        """Move every cell ``step`` columns along its row (-7..7; positive: towards higher columns); the
        columns left empty at the edge take ``fill``."""
        d, k = self.data, abs(step)
        if step > 0:
            out = d >> k
            out[..., 1:] |= (d[..., :-1] & ((1 << k) - 1)) << (8 - k)
            if fill:
                out[..., 0] |= np.uint8((0xFF << (8 - k)) & 0xFF)
        else:
            out = d << k
            out[..., :-1] |= d[..., 1:] >> (8 - k)
            if fill:
                for column in range(self.columns - k, self.columns):
                    out[..., column // 8] |= np.uint8(0x80 >> (column % 8))
        out &= self.valid
        return self.like(out)


def erode(mask: Bits, steps: int) -> Bits:
    """Binary erosion by ``steps`` cells, alternating 4- and 8-neighbourhoods; cells beyond the grid's
    edge count as set (the grid has an empty margin, so the edge erodes nothing)."""
    m = mask
    for i in range(steps):
        right = m.shift_columns(+1, fill=True)  # each cell sees its left neighbour
        left = m.shift_columns(-1, fill=True)  # ... and its right neighbour
        e = (m & right & left).data
        e[:, 1:] &= m.data[:, :-1]
        e[:, :-1] &= m.data[:, 1:]
        if i % 2 == 1:
            e[:, 1:] &= right.data[:, :-1] & left.data[:, :-1]
            e[:, :-1] &= left.data[:, 1:] & right.data[:, 1:]
        m = m.like(e)
    return m


def dilate(mask: Bits, steps: int) -> Bits:
    """Binary dilation by ``steps`` cells (the complement's erosion)."""
    return ~erode(~mask, steps)


def dilate_box(mask: Bits, radius: int) -> Bits:
    """Dilation by a (2 radius + 1)^2 square; cells beyond the grid count as empty."""
    # Along the rows by doubling: a dilation of reach r grows to reach r + s with shifts by s <= r + 1.
    out, reach = mask, 0
    while reach < radius:
        step = min(reach + 1, radius - reach, 7)
        out = out | out.shift_columns(step) | out.shift_columns(-step)
        reach += step
    rows = out.data.copy()
    for k in range(1, radius + 1):
        rows[:, k:] |= out.data[:, :-k]
        rows[:, :-k] |= out.data[:, k:]
    return out.like(rows)


def dilate_layers(mask: Bits, steps: int) -> Bits:
    """Dilate only the layers that have any set cell (most layers of prismatic parts have none).

    Large growths use a square of the same area as the octagon the step-wise dilation would give.
    """
    out = mask.copy()
    if steps <= 0:
        return out
    busy = np.nonzero(mask.any_layers())[0]
    if len(busy) == 0:
        return out
    part = mask.like(mask.data[busy])
    if steps >= 3:
        out.data[busy] = dilate_box(part, max(round(steps * 0.91), 1)).data
    else:
        out.data[busy] = dilate(part, steps).data
    return out


def edges(mask: Bits) -> np.ndarray:
    """Boundary edge count per layer: neighbouring cell pairs (along rows and columns) that differ."""
    across = mask.data ^ mask.shift_columns(+1).data
    across[..., 0] &= 0x7F  # column 0 has no left neighbour
    along = mask.like(mask.data[:, 1:] ^ mask.data[:, :-1])
    return mask.like(across).count_layers() + along.count_layers()
