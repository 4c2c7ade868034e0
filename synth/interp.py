"""np.interp for a map fixed in advance, in constant time per value.

Decoding applies a piecewise-linear map to every value of every continuous column. np.interp finds each
value's segment by binary search, about 55 ns a value, which on a table of 14 continuous columns cost as
much as drawing every category. Here the range of the map is cut into equal cells, and each cell knows the
segment at its left edge: a value finds its segment with one multiplication, one lookup and one step past
the breakpoint its cell may hold. Only values in the few cells that hold two or more breakpoints are
searched. Each segment is stored as a + b x, so the value is one lookup each and a multiply-add; it agrees
with np.interp to float64's rounding of b x (about 1e-11 of the map's scale where consecutive points are
1e-6 apart), not to the bit.
"""

from __future__ import annotations

import numpy as np

CELLS_PER_POINT = 8  # cells per breakpoint to start with
MAX_CELLS = 1 << 16  # 128 KiB of int16 table at most; the cells values land in most stay in cache
SEARCHED_SHARE = 0.05  # cells double until fewer values than this land in a cell that is searched


class Interpolator:
    """np.interp(x, xp, fp) for non-decreasing `xp` and finite or NaN `x` (NaN gives NaN)."""

    def __init__(self, xp, fp):
        xp = given = np.asarray(xp, dtype=np.float64)
        fp = np.asarray(fp, dtype=np.float64)
        if len(xp) != len(fp) or len(xp) == 0 or np.any(np.diff(xp) < 0):
            raise ValueError("xp must be non-decreasing and as long as fp")
        # Flat stretches one cell long before and after the points: values beyond either end land in the
        # first or last cell (the cell lookup clips), whose segment is flat, so they need no clipping. At
        # xp[0] the map is already the value after any jump there, as np.interp's is.
        step = (xp[-1] - xp[0]) / (CELLS_PER_POINT * len(xp)) if xp[-1] > xp[0] else 1.0
        xp = np.concatenate([[xp[0] - step], xp, [xp[-1] + step]])
        fp = np.concatenate([[fp[0]], fp, [fp[-1]]])
        # A point inside a run of equal values is not a breakpoint (the map is flat across it): on a
        # spiky column (mostly zeros) that leaves a few points where there were hundreds.
        inner = np.ones(len(fp), dtype=bool)
        inner[1:-1] = (fp[1:-1] != fp[:-2]) | (fp[1:-1] != fp[2:])
        xp, fp = xp[inner], fp[inner]
        width = np.diff(xp)
        slope = np.append(np.divide(np.diff(fp), width, out=np.zeros(len(width)), where=width > 0), 0.0)
        self.xp = xp
        self.next = np.append(xp[1:], np.inf)  # each segment's end: a value at or past it is in a later one
        self.a, self.b = fp - slope * xp, slope  # segment j: a[j] + b[j] x
        self.lo, self.hi = xp[0], xp[-1]
        # Values spread like xp itself (a calibration grid is its values' quantiles): equal mass between
        # consecutive input points. Cells double until few of those values land in a searched cell.
        probe = np.interp(np.linspace(0, 1, 16 * len(given)), np.linspace(0, 1, len(given)), given)
        self.cells = min(CELLS_PER_POINT * len(xp), MAX_CELLS)
        while True:
            self._cut(self.cells)
            if self.cells >= MAX_CELLS or (self._first(probe) < 0).mean() <= SEARCHED_SHARE:
                break
            self.cells = min(2 * self.cells, MAX_CELLS)

    def _cut(self, cells: int) -> None:
        """Each cell's segment at its left edge, or -1 where the cell holds two breakpoints or more. Edges
        are widened by a rounding slack: the cell a value lands in is computed in floating point, so a
        value may sit just outside its cell, and the step in __call__ must still reach its segment."""
        self.per_unit = cells / (self.hi - self.lo)
        edges = self.lo + np.arange(cells + 1) / self.per_unit
        slack = 1e-9 * max(abs(self.lo), abs(self.hi), self.hi - self.lo)
        first = np.searchsorted(self.xp, edges[:-1] - slack, side="right")
        last = np.searchsorted(self.xp, edges[1:] + slack, side="right")
        segment = np.where(last - first <= 1, np.maximum(first - 1, 0), -1)
        # As narrow integers as the segments allow: the table stays in cache between calls
        self.segment = segment.astype(np.int16 if len(self.xp) < 1 << 15 else np.int32)

    def _first(self, x: np.ndarray) -> np.ndarray:
        """The segment at the left edge of each value's cell, -1 where its cell is searched."""
        with np.errstate(invalid="ignore"):  # NaN: any cell will do, and it stays NaN
            cell = ((x - self.lo) * self.per_unit).astype(np.intp)
        return np.take(self.segment, cell, mode="clip").astype(np.intp)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        j = self._first(x)
        searched = j < 0
        if searched.any():
            j[searched] = np.maximum(np.searchsorted(self.xp, x[searched], side="right") - 1, 0)
        j += np.greater_equal(x, np.take(self.next, j))  # past the breakpoint in the cell, if any
        out = np.take(self.b, j)
        out *= x
        out += np.take(self.a, j)
        return out
