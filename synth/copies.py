"""A number that equals another on a share of the rows, modelled as a category of its own: "a copy of that number".

credit_default's payment of a month is that month's bill, to the unit, on one row in seven (the bill paid in full);
king_county's lot of the fifteen nearest houses is the house's own lot on one row in five. A generator that draws
the two numbers side by side never makes them equal, and a detector reads the pair at once (credit_default's
payment and bill alone: 0.83). Here the copier's block holds one more slot, "equal to its leader", which the
training rows where the two are equal take; the networks join that slot to the other columns as any category
(the chain draws it after what it depends on), and decoding writes the leader's decoded value there. The other
rows are modelled as before.

The model stores the leader's name, nothing of the rows. What is learnt reads the real rows, so none of it runs
under DP.
"""

from __future__ import annotations

import numpy as np

from synth.follow import probe_rows

# The copier's value equals its leader's on at least this share of the rows, not counting its most frequent value
# (two columns that are mostly zero are equal there without one copying the other).
MIN_SHARE = 0.05
MIN_ROWS = 30  # and on at least this many rows (and k, synth.protect)


def equal(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Where the two are equal (False where either is NaN)."""
    return y == x


def find_copies(values: dict[str, np.ndarray], candidates: list[str], leaders: list[str], min_rows: int,
                ) -> dict[str, str]:
    """{copier: leader} among numeric columns (`values`: float, NaN for null, in the table's order). A copier is one
    of `candidates`, a leader one of `leaders` that is known wherever the copier is, and no leader copies another.
    Pairs are taken by their share, and where two columns copy each other equally (the relation is symmetric) the
    later column copies the earlier one."""
    names = list(values)
    probe = probe_rows(values, set(candidates) | set(leaders))  # pairs scored on follow's seeded subset
    enough = max(MIN_ROWS, min_rows)
    scored = []
    for name in candidates:
        y = probe[name]
        known = y[~np.isnan(y)]
        if len(known) == 0:
            continue
        uniques, counts = np.unique(known, return_counts=True)
        spike = uniques[counts.argmax()]
        for lead in leaders:
            x = probe[lead]
            if lead == name or np.any(np.isnan(x) & ~np.isnan(y)):
                continue  # the leader must be known wherever the copier is, to give it a value
            hits = int(np.count_nonzero(equal(y, x) & (y != spike)))
            if hits >= enough and hits >= MIN_SHARE * len(y):
                scored.append((hits, names.index(name), lead, name))
    leader_of: dict[str, str] = {}
    for _, _, lead, name in sorted(scored, key=lambda s: (-s[0], -s[1])):
        if name not in leader_of and lead not in leader_of and name not in leader_of.values():
            leader_of[name] = lead
    return leader_of
