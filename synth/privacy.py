"""Attacks on a synthetic table: what an attacker holding the synthetic rows learns about the training rows.

Membership inference (METRICS.md, "Membership inference AUC")
    Candidates are training rows (members) and holdout rows (non-members) in equal numbers. The holdout is
    split in two at random: one part gives the non-member candidates, the other the *reference* rows, real rows
    that are neither candidates nor training rows. Two attackers score every candidate; the ROC AUC of the
    score against membership is reported (0.5: the synthetic rows say nothing about who was trained on).
    - distance: minus the candidate's distance to its nearest synthetic row (METRICS.md's DCR distance);
    - density: in the manner of DOMIAS (van Breugel et al. 2023), the synthetic rows' density at the candidate
      over the reference rows' density there. A candidate in a region that is dense in every real sample is
      near synthetic rows for that reason alone; dividing by the reference density leaves what the model
      added around its own training rows. Both densities are k-nearest-neighbour estimates under the DCR
      distance (Loftsgaarden and Quesenberry): p(x) ~ k / (n r_k(x)^d), r_k the distance to the k-th nearest
      row. The log of the ratio is d (log r_k,reference(x) - log r_1,synthetic(x)) plus a constant, and
      d > 0 does not change the ranking, so the score is log r_k,reference - log r_1,synthetic: no dimension
      and no bandwidth to choose (DESIGN.md says why not a kernel density on a projection).
Attribute inference
    The attacker knows every column of a person but a sensitive one, finds the nearest synthetic row on those
    columns and reads its value of the sensitive column. Reported for training rows and for holdout rows
    (accuracy, or R² for a numeric column of more than 20 distinct values) and the advantage, members minus
    non-members: what the synthetic rows reveal about the people trained on beyond what they reveal about
    anyone from the same population.

The figures carry the spread that chance alone gives them (`noise_se`), from which worker/scoring.py sets its
noise-aware limits; each figure has a two-line `explain` for the dashboard.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.quality import (
    REGRESSION_MIN_VALUES,
    _encode,
    _Encoded,
    _json_ready,
    _plan,
    _ranges,
    _rng,
    _sample_rows,
    _scaled,
)

MAX_CANDIDATES = 1_000  # members, and as many non-members, at most
MAX_REFERENCE = 5_000  # reference rows for the density attack, at most
MIN_CANDIDATES = 10  # fewer non-member candidates than this: no membership figures
DENSITY_K = 5  # the reference density's k (the synthetic density's is 1: a copy puts a row at distance 0)
PERMUTATIONS = 200  # label shuffles behind the noise of an R² advantage
_EPS = 1e-6  # distances are floored here before their log (an exact copy is at 0)
_CHUNK_CELLS = 2_000_000  # candidate x row cells per block of the nearest-row search

# Random streams, apart from synth.quality's (0-5), so that the attacks never shift the report's other samples.
_S_SPLIT, _S_MEMBERS, _S_PERMUTE = 10, 11, 12

EXPLAIN = {
    "distance": "Guesses who was in the training table from the synthetic rows alone: a person with a very close "
                "synthetic row is guessed to be a member.\n"
                "AUC 0.5 means the guess is a coin toss; 1.0 means every member is found (0.5 is ideal).",
    "density": "A sharper guess (DOMIAS): is a person nearer to synthetic rows than real people from the same "
               "population are? Crowded regions of the data no longer look like memorisation.\n"
               "AUC 0.5 means the synthetic rows crowd no more around members than around anyone else.",
    "attribute": "Someone who knows all of a person's other columns looks up the most similar synthetic row and "
                 "reads this column from it.\n"
                 "The advantage is how much better that works for people in the training table than for others "
                 "(0 is ideal).",
}


# ---------------------------------------------------------------------------------------------------------
# Distances (METRICS.md's DCR distance, in blocks of candidates)
# ---------------------------------------------------------------------------------------------------------


class _Rows:
    """Rows ready for distances: numeric columns scaled by the training range (float32, NaN for null),
    categorical ones as codes (null a code)."""

    def __init__(self, num: np.ndarray, cat: np.ndarray) -> None:
        self.num, self.cat = num, cat

    def __len__(self) -> int:
        return len(self.num)

    def take(self, rows: np.ndarray) -> _Rows:
        return _Rows(self.num[rows], self.cat[rows])


def _blocks(a: _Rows, b: _Rows, skip_num: int | None = None, skip_cat: int | None = None):
    """Yield (start, stop, D), D[i, j] the summed column distances between row start+i of `a` and row j of `b`
    (numeric |x - y| capped at 1, a null against a value 1, null against null 0; categorical 0 if equal, else 1),
    leaving out one numeric or categorical column if asked. Divide by the column count for METRICS.md's mean."""
    n_b = len(b)
    num_cols = [j for j in range(a.num.shape[1]) if j != skip_num]
    cat_cols = [j for j in range(a.cat.shape[1]) if j != skip_cat]
    a_nan, b_nan = np.isnan(a.num), np.isnan(b.num)
    both_nan = {j for j in num_cols if a_nan[:, j].any() and b_nan[:, j].any()}
    b_num_t, b_cat_t = np.ascontiguousarray(b.num.T), np.ascontiguousarray(b.cat.T)
    chunk = max(1, _CHUNK_CELLS // max(1, n_b))
    tmp = np.empty((min(chunk, len(a)), n_b), dtype=np.float32)
    for start in range(0, len(a), chunk):
        stop = min(len(a), start + chunk)
        d = np.zeros((stop - start, n_b), dtype=np.float32)
        t = tmp[: stop - start]
        for j in num_cols:
            np.subtract(a.num[start:stop, j, None], b_num_t[j][None, :], out=t)
            np.abs(t, out=t)
            np.fmin(t, 1.0, out=t)  # capped at 1; NaN (a null on either side) becomes 1
            d += t
            if j in both_nan:
                d -= a_nan[start:stop, j, None] & b_nan[None, :, j]
        for j in cat_cols:
            d += a.cat[start:stop, j, None] != b_cat_t[j][None, :]
        yield start, stop, d


def _kth_nearest(a: _Rows, b: _Rows, k: int = 1) -> np.ndarray:
    """Each row of `a`'s distance (the mean over columns) to its k-th nearest row of `b`."""
    n_cols = a.num.shape[1] + a.cat.shape[1]
    out = np.empty(len(a))
    for start, stop, d in _blocks(a, b):
        out[start:stop] = d.min(axis=1) if k == 1 else np.partition(d, k - 1, axis=1)[:, k - 1]
    return out / n_cols


def _nearest_index(a: _Rows, b: _Rows, skip_num: int | None = None, skip_cat: int | None = None) -> np.ndarray:
    """Each row of `a`'s nearest row of `b` (the first of equals), one column left out."""
    out = np.empty(len(a), dtype=np.int64)
    for start, stop, d in _blocks(a, b, skip_num, skip_cat):
        out[start:stop] = d.argmin(axis=1)
    return out


# ---------------------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------------------


class _Candidates:
    """Members (training rows), non-members and reference rows (two disjoint parts of the holdout), the
    synthetic rows, all scaled alike."""

    def __init__(self, enc: _Encoded, train: int, synthetic: int, holdout: int, seed: int,
                 max_candidates: int) -> None:
        lo, span = _ranges(enc.num[train])  # range_real: the whole training table, as for the DCR share
        rows = {k: _Rows(_scaled(enc.num[k], lo, span), enc.cat[k]) for k in (train, synthetic, holdout)}
        n_hold = len(rows[holdout])
        order = _rng(seed, _S_SPLIT).permutation(n_hold)
        n = min(max_candidates, n_hold // 2, len(rows[train]))
        self.non_member_rows = np.sort(order[:n])
        self.reference_rows = np.sort(order[n:][:MAX_REFERENCE])
        self.member_rows = _sample_rows(len(rows[train]), n, _rng(seed, _S_MEMBERS))
        self.members = rows[train].take(self.member_rows)
        self.non_members = rows[holdout].take(self.non_member_rows)
        self.reference = rows[holdout].take(self.reference_rows)
        self.synthetic = rows[synthetic]
        # unscaled numeric values, for the attribute attack's guesses and truths
        self.raw_members = enc.num[train][self.member_rows]
        self.raw_non_members = enc.num[holdout][self.non_member_rows]
        self.raw_synthetic = enc.num[synthetic]
        self.n = n

    def both(self) -> _Rows:
        return _Rows(np.concatenate([self.members.num, self.non_members.num]),
                     np.concatenate([self.members.cat, self.non_members.cat]))

    def counts(self) -> dict:
        return {"members": self.n, "non_members": self.n}


def auc(member_scores: np.ndarray, non_member_scores: np.ndarray) -> float:
    """ROC AUC of scores that should be higher for members: the chance that a random member outscores a random
    non-member, ties counting half (the Mann-Whitney statistic over n_m n_n)."""
    from scipy.stats import rankdata

    m, n = len(member_scores), len(non_member_scores)
    ranks = rankdata(np.concatenate([member_scores, non_member_scores]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def auc_noise(members: int, non_members: int) -> float:
    """The standard deviation of the AUC when membership does not change the scores (Mann-Whitney, no ties):
    sqrt((n_m + n_n + 1) / (12 n_m n_n)). Ties only narrow it."""
    return float(np.sqrt((members + non_members + 1) / (12.0 * members * non_members)))


# ---------------------------------------------------------------------------------------------------------
# Membership inference
# ---------------------------------------------------------------------------------------------------------


def _membership(cands: _Candidates) -> dict:
    both = cands.both()
    n = cands.n
    d_synth = _kth_nearest(both, cands.synthetic, 1)
    k = max(1, min(DENSITY_K, len(cands.reference) // 10))
    d_ref = _kth_nearest(both, cands.reference, k)
    distance_score = -d_synth
    density_score = np.log(d_ref + _EPS) - np.log(d_synth + _EPS)
    noise = auc_noise(n, n)
    return {
        "distance": {
            "auc": auc(distance_score[:n], distance_score[n:]),
            "candidates": cands.counts(),
            "noise_se": noise,
            "median_distance": {"members": float(np.median(d_synth[:n])),
                                "non_members": float(np.median(d_synth[n:]))},
            "synthetic_rows": len(cands.synthetic),
            "explain": EXPLAIN["distance"],
        },
        "density": {
            "auc": auc(density_score[:n], density_score[n:]),
            "candidates": cands.counts(),
            "noise_se": noise,
            "reference_rows": len(cands.reference),
            "synthetic_rows": len(cands.synthetic),
            "k": {"synthetic": 1, "reference": k},
            "explain": EXPLAIN["density"],
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Attribute inference
# ---------------------------------------------------------------------------------------------------------


def _r2(y: np.ndarray, guess: np.ndarray) -> float | None:
    if len(y) < 2:
        return None
    total = float(np.sum((y - y.mean()) ** 2))
    if total <= 0:
        return None
    return 1.0 - float(np.sum((y - guess) ** 2)) / total


def _attribute_column(enc: _Encoded, cands: _Candidates, train: int, name: str, seed: int) -> dict:
    n = cands.n
    both = cands.both()
    if name in enc.num_cols:
        j = enc.num_cols.index(name)
        nearest = _nearest_index(both, cands.synthetic, skip_num=j)
        truth = np.concatenate([cands.raw_members[:, j], cands.raw_non_members[:, j]])
        guess = cands.raw_synthetic[nearest, j]
        distinct = np.unique(enc.num[train][:, j][~np.isnan(enc.num[train][:, j])])
        regression = len(distinct) > REGRESSION_MIN_VALUES
    else:
        j = enc.cat_cols.index(name)
        nearest = _nearest_index(both, cands.synthetic, skip_cat=j)
        truth = np.concatenate([cands.members.cat[:, j], cands.non_members.cat[:, j]])
        guess = cands.synthetic.cat[nearest, j]
        regression = False
    member = np.arange(2 * n) < n
    if regression:
        keep = ~np.isnan(truth)
        values = cands.raw_synthetic[:, j][~np.isnan(cands.raw_synthetic[:, j])]
        fallback = float(values.mean()) if len(values) else 0.0
        guess = np.where(np.isnan(guess), fallback, guess)  # a null guess: the synthetic mean instead
        truth, guess, member = truth[keep], guess[keep], member[keep]

        def score(is_member: np.ndarray) -> tuple[float | None, float | None]:
            return _r2(truth[is_member], guess[is_member]), _r2(truth[~is_member], guess[~is_member])

        metric = "r2"
    else:
        hit = (truth == guess) | (np.isnan(truth) & np.isnan(guess)) if truth.dtype.kind == "f" else truth == guess
        hit = hit.astype(np.float64)

        def score(is_member: np.ndarray) -> tuple[float | None, float | None]:
            return float(hit[is_member].mean()), float(hit[~is_member].mean())

        metric = "accuracy"
    n_m, n_n = int(member.sum()), int((~member).sum())
    out = {"metric": metric, "members": None, "non_members": None, "advantage": None, "noise_se": None,
           "candidates": {"members": n_m, "non_members": n_n}, "explain": EXPLAIN["attribute"]}
    if n_m < 2 or n_n < 2:
        out["note"] = f"too few candidates with a value of {name!r} to score"
        return out
    on_members, on_others = score(member)
    out["members"], out["non_members"] = on_members, on_others
    if on_members is None or on_others is None:
        out["note"] = f"{name!r} does not vary among the candidates: R² is undefined"
        return out
    out["advantage"] = on_members - on_others
    if metric == "accuracy":  # a difference of two proportions when membership changes nothing (pooled)
        p = float(hit.mean())
        out["noise_se"] = float(np.sqrt(p * (1 - p) * (1 / n_m + 1 / n_n)))
    else:  # the advantage's spread with membership labels shuffled
        rng = _rng(seed, _S_PERMUTE)
        shuffled = []
        for _ in range(PERMUTATIONS):
            a, b = score(rng.permutation(member))
            if a is not None and b is not None:
                shuffled.append(a - b)
        out["noise_se"] = float(np.std(shuffled)) if len(shuffled) > 1 else None
    return out


# ---------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------


def attacks_encoded(enc: _Encoded, train: int, synthetic: int, holdout: int, sensitive: list[str], seed: int,
                    max_candidates: int = MAX_CANDIDATES) -> dict:
    """{"membership": ..., "attribute": ...} on tables in synth.quality's encoding (`train`, `synthetic` and
    `holdout` their indices), with `attack_notes` where a part cannot be run."""
    notes: list[str] = []
    cands = _Candidates(enc, train, synthetic, holdout, seed, max_candidates)
    if cands.n < MIN_CANDIDATES or len(cands.reference) < MIN_CANDIDATES:
        notes.append(f"no membership or attribute attack: the holdout has {len(enc.num[holdout])} rows; the attacks "
                     f"need {2 * MIN_CANDIDATES} (half non-member candidates, half reference rows)")
        return {"membership": None, "attribute": None, "attack_notes": notes}
    membership = _membership(cands)
    columns = {}
    n_cols = len(enc.num_cols) + len(enc.cat_cols)
    for name in sensitive:
        if n_cols < 2:
            notes.append(f"no attribute attack on {name!r}: the table has no other column to look it up by")
            continue
        columns[name] = _attribute_column(enc, cands, train, name, seed)
    attribute = {"sensitive": list(sensitive), "columns": columns, "explain": EXPLAIN["attribute"]}
    if not sensitive:
        attribute["note"] = "no sensitive columns: the job named none (params.sensitive) and has no target"
    return {"membership": membership, "attribute": attribute, "attack_notes": notes}


def check_sensitive(sensitive, columns: list[str], excluded: dict[str, str]) -> list[str]:
    """The sensitive column names as a list, each a column the report scores; a SynthError saying which is not."""
    if sensitive is None:
        return []
    if isinstance(sensitive, str) or not isinstance(sensitive, list | tuple):
        raise SynthError(f"sensitive must be a list of column names, got {sensitive!r}")
    names = [str(s) for s in sensitive]
    for name in names:
        if name in excluded:
            raise SynthError(f"sensitive column {name!r} cannot be attacked: {excluded[name]}")
        if name not in columns:
            raise SynthError(f"sensitive column {name!r} is not a column; columns are {columns}")
    if len(set(names)) != len(names):
        raise SynthError(f"sensitive names a column more than once: {names}")
    return names


def attacks(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, sensitive: list[str] | None = None,
            kinds: dict[str, str] | None = None, seed: int = 0, max_candidates: int = MAX_CANDIDATES) -> dict:
    """Membership and attribute inference against `synthetic`, a model's rows, with `train` the rows it was
    trained on and `holdout` real rows it never saw: {"membership": {"distance", "density"}, "attribute"}.
    Kinds are inferred on `train` (overridden by `kinds`); ID columns are left out."""
    plan = _plan(train, [("synthetic", synthetic), ("holdout", holdout)], kinds)
    names = check_sensitive(sensitive, list(plan.specs), plan.excluded)
    enc = _encode([f.rename(columns=str) for f in (train, synthetic, holdout)], plan.specs,
                  ["training", "synthetic", "holdout"])
    return _json_ready(attacks_encoded(enc, 0, 1, 2, names, seed, max_candidates))


def membership_inference(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame,
                         kinds: dict[str, str] | None = None, seed: int = 0,
                         max_candidates: int = MAX_CANDIDATES) -> dict | None:
    """{"distance": {"auc", "candidates", ...}, "density": {...}}; None when the holdout is too small."""
    return attacks(synthetic, train, holdout, None, kinds, seed, max_candidates)["membership"]


def attribute_inference(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, sensitive: list[str],
                        kinds: dict[str, str] | None = None, seed: int = 0,
                        max_candidates: int = MAX_CANDIDATES) -> dict | None:
    """{"sensitive", "columns": {name: {"metric", "members", "non_members", "advantage", ...}}}."""
    return attacks(synthetic, train, holdout, sensitive, kinds, seed, max_candidates)["attribute"]
