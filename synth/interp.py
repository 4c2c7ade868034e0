"""np.interp for a map fixed in advance, in constant time per value.

Decoding applies a 257-point calibration map to every value of every continuous column. np.interp finds
each value's segment by binary search, about 55 ns a value, which on a table of 14 continuous columns
cost as much as drawing every category. Here the range of the map is cut into equal cells, and each cell
that holds no breakpoint knows its segment: most values find theirs with one multiplication and one
lookup, and only values in the few cells that hold a breakpoint are searched. The result is np.interp's to
the bit, computed the same way (fp[j] + slope[j] * (x - xp[j]) on the segment j that holds x); an affine map
folded in (the column's scale) changes only the last digits.
"""

from __future__ import annotations

import numpy as np

CELLS_PER_POINT = 8  # cells per breakpoint to start with
MAX_CELLS = 1 << 16  # 512 KiB of table at most; the cells values land in most stay in cache
SEARCHED_SHARE = 0.05  # cells double until fewer values than this land in a cell that is searched


class Interpolator:
    """np.interp(x, xp, fp) for non-decreasing `xp`, then `* scale + shift` folded into the map."""

    def __init__(self, xp, fp, scale: float = 1.0, shift: float = 0.0):
        xp = given = np.asarray(xp, dtype=np.float64)
        fp = np.asarray(fp, dtype=np.float64)
        if len(xp) != len(fp) or len(xp) == 0 or np.any(np.diff(xp) < 0):
            raise ValueError("xp must be non-decreasing and as long as fp")
        # Below xp[0] the map is fp[0]; at xp[0] it is already the value after any jump there. So values
        # below are clipped onto a flat stretch one cell long in front, not onto xp[0] itself.
        step = (xp[-1] - xp[0]) / (CELLS_PER_POINT * len(xp)) if xp[-1] > xp[0] else 1.0
        xp, fp = np.concatenate([[xp[0] - step], xp]), np.concatenate([[fp[0]], fp])
        # A point inside a run of equal values is not a breakpoint (the map is flat across it): on a
        # spiky column (mostly zeros) that leaves a few points where there were hundreds.
        inner = np.ones(len(fp), dtype=bool)
        inner[1:-1] = (fp[1:-1] != fp[:-2]) | (fp[1:-1] != fp[2:])
        xp, fp = xp[inner], fp[inner]
        width = np.diff(xp)
        slope = np.divide(np.diff(fp), width, out=np.zeros(len(width)), where=width > 0)
        self.xp = xp
        # The value and slope from each point on, scaled; past the last point the map is flat.
        self.fp = fp * scale + shift
        self.slope = np.append(slope, 0.0) * scale
        self.lo, self.hi = xp[0], xp[-1]
        # Values spread like xp itself (a calibration grid is its values' quantiles): equal mass between
        # consecutive input points. Cells double until few of those values land in a searched cell.
        probe = np.interp(np.linspace(0, 1, 16 * len(given)), np.linspace(0, 1, len(given)), given)
        self.cells = CELLS_PER_POINT * len(xp)
        while True:
            self._cut(self.cells)
            if self.cells >= MAX_CELLS or (self._cell(probe) < 0).mean() <= SEARCHED_SHARE:
                break
            self.cells = min(2 * self.cells, MAX_CELLS)

    def _cut(self, cells: int) -> None:
        """Each cell's segment, or -1 where a breakpoint lies in the cell or within rounding of its edges
        (the cell a value lands in is computed in floating point, so its edges are not exact)."""
        self.per_unit = cells / (self.hi - self.lo)
        edges = self.lo + np.arange(cells + 1) / self.per_unit
        slack = 1e-9 * max(abs(self.lo), abs(self.hi), self.hi - self.lo)
        first = np.searchsorted(self.xp, edges[:-1] - slack, side="right")
        last = np.searchsorted(self.xp, edges[1:] + slack, side="right")
        self.segment = np.where(first == last, first - 1, -1).astype(np.intp)

    def _cell(self, x: np.ndarray) -> np.ndarray:
        """The segment of each value of `x` (already clipped) where its cell knows it, else -1."""
        with np.errstate(invalid="ignore"):  # NaN: any cell will do, it is searched and stays NaN
            cell = ((x - self.lo) * self.per_unit).astype(np.intp)
        return np.take(self.segment, cell, mode="clip")  # x == hi lands one past the last cell

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=np.float64), self.lo, self.hi)  # the map is flat outside
        j = self._cell(x)
        searched = j < 0
        if searched.any():  # x >= xp[0] here, so the search finds a point at or below it
            j[searched] = np.searchsorted(self.xp, x[searched], side="right") - 1
        return self.fp[j] + self.slope[j] * (x - self.xp[j])
