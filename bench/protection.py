"""What privacy costs in quality: the same training with protection off and on (k, synth.protect), or with
differential privacy at several epsilons, scored by synth.quality.report on the shared tables' 70/30 split.

    SYNTHD_DATASETS=/work/shared/datasets .venv/bin/python -m bench.protection \\
        --datasets adult,king_county,bank_marketing --epochs 30
    SYNTHD_DATASETS=/work/shared/datasets .venv/bin/python -m bench.protection --datasets adult \\
        --epsilons 1,3,10 --noise 3,3,1.2 --epochs 30

Prints one JSON line per run and a Markdown table, and saves them to bench/out/protection-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench import datasets
from synth import Synthesizer
from synth.quality import report


def run(name: str, epochs: int, seed: int, label: str, max_rows: int | None, **knobs) -> dict:
    ds = datasets.resolve(name)
    train, holdout = datasets.split(datasets.load(name, max_rows=max_rows, seed=seed), seed=seed)
    model = Synthesizer(epochs=epochs, batch_size=500, seed=seed, **knobs)
    started = time.monotonic()
    model.fit(train)
    seconds = time.monotonic() - started
    rows = model.sample(min(len(train), 20_000), seed=seed + 1)
    scores = report(train, rows, holdout, target=ds.target, seed=seed, max_rows=5000)
    privacy = scores.get("privacy") or {}
    tstr = scores.get("tstr") or {}
    marker = sum(int((rows[c].astype(str) == "_RARE_").sum()) for c in rows.columns) / max(1, len(rows))
    out = {
        "dataset": name, "run": label, "epochs_trained": model.epochs_done, "train_seconds": round(seconds, 1),
        "shapes": scores["column_shapes"]["score"], "overall": scores["overall"],
        "pairs_strong": scores["column_pair_trends"].get("strong"),
        "dcr_share": privacy.get("dcr_share"), "exact_copy_rate": privacy.get("exact_copy_rate"),
        "tstr": tstr["synthetic"] / tstr["real"] if tstr.get("synthetic") is not None and tstr.get("real") else None,
        "marker_cells_per_row": round(marker, 4),
        "privacy": getattr(model, "privacy_spent", None),
    }
    print(json.dumps(out), flush=True)
    return out


def step_timing(rounds: int = 5) -> None:
    """Seconds per critic update on Adult's critic shape (50 pac groups of 10, data 157 and one-hot 110 wide,
    256-256): the ordinary one, the DP one (synth.dp.group_terms), and torch.func's per-group gradients."""
    import torch

    from synth import dp
    from synth.networks import Discriminator, gradient_penalty

    torch.manual_seed(0)
    disc = Discriminator(data_dim=157, cond_dim=110, hidden=(256, 256), pac=10).train()
    groups = 50
    real, fake = torch.rand(groups * 10, 157), torch.rand(groups * 10, 157)
    cond = torch.randint(110, (groups * 10,))
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(disc.parameters())
    privacy = dp.Privacy(1.0, 1e-6, 3.0, 1.0)

    def ordinary() -> None:
        part = disc.one_hot_part(cond)
        first = disc.first_layer(torch.cat([fake, real]), part.repeat(2, 1))
        scores = disc.seq(first)
        penalty = gradient_penalty(disc, first[groups:], first[:groups], gen)
        opt.zero_grad()
        (scores[:groups].mean() - scores[groups:].mean() + penalty).backward()
        opt.step()

    for label, fn in (("ordinary", ordinary),
                      ("dp, by hand", lambda: dp.private_critic_update(disc, opt, real, fake, cond, gen, privacy)),
                      ("dp, torch.func vmap", lambda: dp.per_group_gradients(disc, real, fake, cond, gen))):
        fn()
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        print(json.dumps({"critic_update": label, "median_seconds": round(float(np.median(times)), 4)}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="adult,king_county,bank_marketing")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int, default=0, help="a seeded subset of each table (0: all rows)")
    p.add_argument("--k", type=int, default=10, help="rare_threshold of the protected run")
    p.add_argument("--epsilons", default="", help="comma-separated: DP runs at these epsilons instead")
    p.add_argument("--delta", type=float, default=1e-6)
    p.add_argument("--noise", default="", help="DP noise multipliers, one for all epsilons or one each "
                   "(empty: the engine's default)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: steady on a machine that other work shares; a team of threads stalls "
                   "at every barrier when a core is taken)")
    p.add_argument("--steps", action="store_true", help="time one critic update, ordinary and DP, and stop")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.steps:
        step_timing()
        return
    results = []
    for name in args.datasets.split(","):
        if args.epsilons:
            epsilons = [float(e) for e in args.epsilons.split(",")]
            noises = [float(v) for v in args.noise.split(",")] if args.noise else [0.0] * len(epsilons)
            for eps, noise in zip(epsilons, noises * len(epsilons) if len(noises) == 1 else noises, strict=False):
                privacy = {"epsilon": eps, "delta": args.delta}
                if noise:
                    privacy["noise_multiplier"] = noise
                results.append(run(name, args.epochs, args.seed, f"dp eps={eps:g} noise={noise:g}",
                                   args.max_rows or None, privacy=privacy))
        else:
            results.append(run(name, args.epochs, args.seed, "k=1 (off)", args.max_rows or None, rare_threshold=1))
            results.append(run(name, args.epochs, args.seed, f"k={args.k}", args.max_rows or None,
                               rare_threshold=args.k))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = datasets.REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"protection-{stamp}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print("\n| table | run | epochs | shapes | overall | TSTR ratio | DCR share | exact copies | marker cells/row |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [_f(r[k]) for k in ("shapes", "overall", "tstr", "dcr_share", "exact_copy_rate",
                                    "marker_cells_per_row")]
        print(f"| {r['dataset']} | {r['run']} | {r['epochs_trained']} | " + " | ".join(cells) + " |")


def _f(v) -> str:  # noqa: ANN001
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


if __name__ == "__main__":
    main()
