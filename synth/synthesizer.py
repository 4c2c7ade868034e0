"""The Synthesizer: fit a conditional GAN on a DataFrame, then draw any number of rows from it.

The training loop follows CTGAN (Xu et al. 2019): WGAN-GP with a PacGAN critic, a residual generator,
Gumbel-softmax outputs, a conditional vector with training-by-sampling and a cross-entropy term that
makes the generator honour it. All data stays on the training device in compact form; a batch is
a handful of tensor ops. After training, a calibration pass measures the generator's marginals and
stores two small corrections applied when decoding: a logit bias per category block (so categories
come out at their real frequencies) and a monotone quantile map per continuous column (so values
follow the real distribution while keeping the generator's rank order, and so its correlations).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
import torch

from synth import artifact
from synth.auxiliary import TargetModel, target_model
from synth.conditions import Plan, plan_conditions
from synth.config import DEFAULT_EPOCHS, Config
from synth.cores import SharedCores
from synth.draws import TaskDraws
from synth.errors import SynthError
from synth.ids import IdSpec, fit_id, generate_ids
from synth.memory import keep_freed_memory
from synth.networks import (
    BlockLayout,
    ChainLikelihood,
    Discriminator,
    FrozenGenerator,
    Generator,
    gradient_penalty,
    information_loss,
)
from synth.output import category_column, datetime_resolution, numeric_column, numeric_grid, numeric_on_grid
from synth.pairs import PairLoss, pair_counts, shrink, taught_blocks
from synth.parallel import run_in_order
from synth.protect import protect_schema
from synth.rules import PairRules, RuleLoss
from synth.sampler import ConditionalSampler
from synth.schema import Schema, check_frame, infer_schema
from synth.sums import add_parts, bounds_of, grid_of, total_grid
from synth.transformer import Coded, DataTransformer, numeric_values

GEN_BATCH = 10_000  # rows per generator call when sampling; chunking for the caller is separate
MIN_GEN_BATCH = 256
TASK_ROWS = 50_000  # rows per sampling task, decoded into one DataFrame: each task has a fixed Python cost
SAMPLE_WORKERS = 2  # threads sampling large requests; more would queue on Python's lock while decoding
CALIBRATION_ROWS = 20_000
# Calibration's fixed-point steps with the chain, whose sharper logits take more than the four that suffice
# without it (BENCHMARKS.md, the levers).
CHAIN_CALIBRATION_STEPS = 10


@dataclass
class EpochInfo:
    epoch: int  # epochs completed so far, 1-based
    epochs: int
    losses: dict[str, float]
    elapsed: float  # seconds of training in this fit() call
    history: list[dict] = field(default_factory=list, repr=False)
    epsilon: float | None = None  # under differential privacy: epsilon spent so far (synth.dp)


EpochCallback = Callable[[EpochInfo], bool | None]


@dataclass
class _TrainingData:
    """The training table on the device, compact, and what draws batches from it."""

    scalars: torch.Tensor
    codes: torch.Tensor
    layout: BlockLayout
    sampler: ConditionalSampler
    cond_block: torch.Tensor  # cond block index -> layout block index
    rows_per_step: int  # the batch a step draws (Config.rows_per_step)
    rules: RuleLoss | None = None  # the pair rules the generator is taught (synth.rules)


class Synthesizer:
    def __init__(self, epochs: int = 0, batch_size: int = 0, seed: int = 0, device: str = "auto",
                 column_kinds: dict[str, str] | None = None, sample_precision: str = "auto", **knobs):
        unknown = set(knobs) - {f.name for f in fields(Config)}
        if unknown:
            raise SynthError(f"unknown option(s) {sorted(unknown)}; options are {[f.name for f in fields(Config)]}")
        for dims in ("generator_dim", "discriminator_dim"):
            if dims in knobs:
                knobs[dims] = tuple(knobs[dims])
        self.config = Config(epochs=epochs, batch_size=batch_size, seed=seed, **knobs)
        self.config.check()
        self.device = resolve_device(device)
        self.sample_bf16 = resolve_sample_precision(sample_precision, self.device)
        self.column_kinds = dict(column_kinds or {})
        self.schema: Schema | None = None
        self.transformer: DataTransformer | None = None
        self.ids: list[IdSpec] = []
        self.biases: list[list[float]] | None = None
        self.epochs_done = 0
        self.history: list[dict] = []
        self._generator: Generator | None = None
        self._average: Generator | None = None  # the generator's moving average (average_decay), sampled from
        self._averaged: tuple[list, list, list] | None = None  # its float tensors, the generator's, counter pairs
        self._discriminator: Discriminator | None = None
        self._opt_g = self._opt_d = None
        self._target_model: TargetModel | None = None  # with a target, outside DP: synth.auxiliary
        self._opt_t = None
        self._chain_likelihood: ChainLikelihood | None = None  # the chain's fit to real rows (synth.networks)
        self._opt_c = None
        self._pair_loss: PairLoss | None = None  # the pair tables the generator is taught (synth.pairs)
        self._gen: torch.Generator | None = None
        self._frozen: FrozenGenerator | None = None  # built from the trained generator on first sampling
        self._sampling: tuple | None = None  # (layout, sampler) for sampling, built once per trained model
        self._resume_state: dict | None = None
        self._budget = None  # synth.dp.Budget, while a differentially private training runs
        self.privacy_spent: dict | None = None  # its final (epsilon, delta) and settings, kept with the model

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, on_epoch: EpochCallback | None = None,
            max_seconds: float | None = None, threads: int | str | None = None) -> Synthesizer:
        """Train until `epochs`, the time budget, or the callback returning False. Continues from the
        last completed epoch when the model came from a checkpoint. `threads`: torch's CPU threads for this
        fit (None: as they are), or "auto" to use the cores other processes leave free, re-read between
        steps (synth.cores; the model then depends in its last digits on the machine's load)."""
        check_frame(df)
        if threads is not None and threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int)
                                                          or threads < 1):
            raise SynthError(f"threads must be a positive whole number or 'auto', got {threads!r}")
        if max_seconds is not None and max_seconds <= 0:
            raise SynthError(f"max_seconds must be positive, got {max_seconds!r}")
        cfg = self.config
        if cfg.target is not None and cfg.target not in df.columns:
            raise SynthError(f"target {cfg.target!r} is not a column of the table; its columns are {list(df.columns)}")
        if self.transformer is None:
            self._prepare(df)
        elif list(df.columns) != self.schema.names:
            raise SynthError("the table's columns differ from the ones this model started training on")
        if len(df) < cfg.pac:
            raise SynthError(f"the table has {len(df)} rows; training needs at least {cfg.pac} (pac)")
        epochs = self.planned_epochs(len(df))

        # Under DP a null count under the noise is not released (synth.dp): such rows' nulls are drawn.
        scalars, codes = self.transformer.transform(df, seed=cfg.seed, draw_unseen_nulls=self._budget is not None)
        t = self.transformer
        data = _TrainingData(
            scalars=torch.from_numpy(scalars).to(self.device), codes=torch.from_numpy(codes).to(self.device),
            layout=self._layout(),
            sampler=ConditionalSampler(codes, t.block_widths(), t.discrete_blocks(), cfg.log_frequency, self.device),
            cond_block=torch.tensor(t.discrete_blocks(), dtype=torch.long, device=self.device),
            rows_per_step=cfg.rows_per_step(len(df)))
        if self._budget is not None:  # conditions from the released frequencies, not from the rows (synth.dp)
            from synth import dp

            data.sampler = dp.training_sampler(t, len(df), self.device)
        elif cfg.rule_weight:
            rules = PairRules.learn(codes, t.discrete_blocks(), t.block_widths())
            data.rules = RuleLoss(rules, data.layout.max_width, self.device) if rules else None
        if self._pair_loss is not None and not bool(self._pair_loss.filled):  # a resumed fit has its tables
            self._pair_loss.fill(self._pair_tables(codes))
        self._restore_rng()
        self._generator.train()
        self._discriminator.train()
        cores, before = None, torch.get_num_threads()
        if threads == "auto" and self.device.type == "cpu":
            cores = SharedCores()
        elif isinstance(threads, int):
            torch.set_num_threads(threads)
        try:
            with _deterministic(self.device), _flushed_denormals(self.device):
                self._train_epochs(data, epochs, _steps_per_epoch(len(df), data.rows_per_step), on_epoch,
                                   max_seconds, cores)
        finally:
            if cores is not None:
                torch.set_num_threads(before)
        if cfg.calibrate:
            self._calibrate(None if self._budget is not None else codes)
        return self

    def _update_average(self, step: int) -> None:
        """Move the average toward the generator's weights after its `step`-th update. The decay starts low, so
        that the random first weights are soon forgotten (TensorFlow's ExponentialMovingAverage with num_updates);
        buffers such as batch norm's running statistics are averaged too, and counters copied."""
        decay = min(self.config.average_decay, (1 + step) / (10 + step))
        kept, now, counters = self._averaged
        with torch.no_grad():
            torch._foreach_lerp_(kept, now, 1 - decay)
            for kept_count, count in counters:
                kept_count.copy_(count)

    def _pair_tables(self, codes: np.ndarray) -> dict:
        """The pair tables the generator is taught: released with noise under DP (synth.dp), exact otherwise."""
        widths = self.transformer.block_widths()
        if self._budget is not None:
            from synth import dp

            target = self.transformer.block_of(self.config.target) if self.config.target is not None else None
            return dp.release_pairs(codes, widths, self._budget, self.config.seed, target)
        return shrink(pair_counts(codes, widths), len(codes), 0.0)

    def planned_epochs(self, rows: int) -> int:
        """The epochs a fit on `rows` training rows runs: `epochs` when given; by default 300, or more on a table of
        few batches, enough for `min_steps` generator updates (a 1,600-row table takes 8 updates of 200 rows an
        epoch: 300 epochs would be 2,400 updates)."""
        cfg = self.config
        if cfg.epochs:
            return cfg.epochs
        return max(DEFAULT_EPOCHS, math.ceil(cfg.min_steps / _steps_per_epoch(rows, cfg.rows_per_step(rows))))

    def _train_epochs(self, data: _TrainingData, epochs: int, steps: int, on_epoch: EpochCallback | None,
                      max_seconds: float | None, cores: SharedCores | None) -> None:
        cfg = self.config
        start = time.monotonic()
        budget = self._budget
        # Under DP, the critic steps the budget buys (synth.dp), spread evenly over the generator's steps: the
        # generator keeps learning from the last critic and the released pair tables between them (post-processing).
        critic_groups = None if budget is None else budget.affordable(
            budget.steps + (epochs - self.epochs_done) * steps * cfg.discriminator_steps) // cfg.discriminator_steps
        total = epochs * steps
        while self.epochs_done < epochs:
            sums = torch.zeros(5, device=self.device)
            for k in range(steps):
                if cores is not None:
                    cores.update()
                critic = True
                if budget is not None:  # a critic step when the even spread's count passes a whole one
                    g = self.epochs_done * steps + k
                    critic = (g + 1) * critic_groups // total > g * critic_groups // total and \
                        budget.steps + cfg.discriminator_steps <= critic_groups * cfg.discriminator_steps
                sums += self._step(data, critic)
                if self._average is not None:
                    self._update_average(self.epochs_done * steps + k + 1)
            self.epochs_done += 1
            self._frozen = None  # the weights moved: the sampling network built from them is stale
            means = (sums / steps).tolist()
            losses = {"generator": means[0], "discriminator": means[1], "conditional": means[2]}
            if self._target_model is not None:
                losses["target"] = means[3]  # the target model's loss on generated rows (synth.auxiliary)
            if self._pair_loss is not None:
                losses["pairs"] = means[4]  # the generated pair tables' distance from the taught ones (synth.pairs)
            epsilon = None
            if budget is not None:
                del losses["discriminator"]  # it reads real rows: not released under DP
                epsilon = budget.epsilon()
                self.privacy_spent = budget.spent()
            self.history.append({"epoch": self.epochs_done, **losses} | ({} if epsilon is None else
                                                                        {"epsilon": round(epsilon, 6)}))
            elapsed = time.monotonic() - start
            info = EpochInfo(self.epochs_done, epochs, losses, elapsed, self.history, epsilon)
            if on_epoch is not None and on_epoch(info) is False:
                break
            if max_seconds is not None and elapsed >= max_seconds:
                break

    def _prepare(self, df: pd.DataFrame) -> None:
        cfg = self.config
        self.schema = infer_schema(df, self.column_kinds)
        if cfg.privacy is not None:
            self._prepare_private(df)
            return
        for spec in self.schema.columns:
            if spec.kind == "datetime":
                spec.extra["resolution"] = datetime_resolution(numeric_values(df[spec.name], spec))
            if spec.kind in ("continuous", "integer") and not spec.discrete:
                grid = numeric_grid(numeric_values(df[spec.name], spec), min_rows=cfg.rare_threshold)
                if grid is not None and (spec.kind == "continuous" or grid[0] > 1):
                    spec.extra["step"], spec.extra["decimals"] = grid
            if spec.kind == "constant":
                spec.extra["value"] = _json_scalar(df[spec.name].dropna().iloc[0])
        protect_schema(self.schema, df, cfg.rare_threshold)  # bounds that k rows share (synth.protect)
        self.ids = [fit_id(s.name, df[s.name], cfg.seed, cfg.rare_threshold)
                    for s in self.schema.columns if s.kind == "id"]
        self.transformer = DataTransformer(self.schema, cfg.max_modes, cfg.max_categories, seed=cfg.seed,
                                           min_rows=cfg.rare_threshold, rare_mode=cfg.rare_categories,
                                           numeric_encoding=cfg.numeric_encoding).fit(df, {cfg.target})
        for total in self.transformer.sums:  # the total's values are its parts' sums: on the grid they make
            spec = self.schema[total.name]
            grid = total_grid(*(grid_of(self.schema[p]) for p in total.parts))
            spec.extra.pop("step", None)
            spec.extra.pop("decimals", None)
            if grid is not None:
                spec.extra["step"], spec.extra["decimals"] = grid
        torch.manual_seed(cfg.seed)
        self._gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self._build_networks()

    def _prepare_private(self, df: pd.DataFrame) -> None:
        """Differential privacy (synth.dp): a budget that buys at least one epoch, else SynthError before
        anything is released; the transformer and ID shapes from noisy statistics."""
        from synth import dp

        cfg = self.config
        self._budget = dp.check_budget(len(df), cfg)
        self.transformer, self.ids = dp.fit_private(self.schema, df, cfg, self._budget, cfg.seed)
        self.privacy_spent = self._budget.spent()
        torch.manual_seed(cfg.seed)
        self._gen = torch.Generator(self.device).manual_seed(cfg.seed)
        self._build_networks()

    def _build_networks(self, training: bool = True) -> None:
        """The generator, and for training the critic and both optimisers (which a model loaded to sample
        does without: building the first optimiser imports torch._dynamo, about a second)."""
        cfg = self.config
        t = self.transformer
        cond_dim = sum(t.block_widths()[b] for b in t.discrete_blocks())
        self._generator = Generator(cfg.embedding_dim + cond_dim, cfg.generator_dim, t.output_dim, cond_dim,
                                    sum(t.block_widths()) if cfg.chain else 0).to(self.device)
        # Each conditional one-hot column's column among all one-hot columns: where the chain reads a condition.
        widths = t.block_widths()
        self._cond_columns = torch.tensor([sum(widths[:b]) + i for b in t.discrete_blocks() for i in range(widths[b])],
                                          dtype=torch.long, device=self.device)
        if not training:
            return
        self._discriminator = Discriminator(t.output_dim, cond_dim, cfg.discriminator_dim, cfg.pac,
                                            cfg.discriminator_dropout).to(self.device)
        if cfg.average_decay:
            self._average = copy.deepcopy(self._generator).requires_grad_(False)
            # The tensors each update moves, paired once here rather than every step: loading a checkpoint copies
            # into these same tensors.
            pairs = list(zip(self._average.state_dict().values(), self._generator.state_dict().values(), strict=True))
            floats = [(a, g) for a, g in pairs if a.dtype.is_floating_point]
            self._averaged = ([a for a, _ in floats], [g for _, g in floats],
                              [(a, g) for a, g in pairs if not a.dtype.is_floating_point])
        # Fused Adam: one kernel for all parameters instead of a Python loop over them. The chain learns at its
        # own rate, without decay (which would pull its large shifts back to independence).
        groups = [{"params": list(self._generator.seq.parameters())}]
        if self._generator.chain is not None:
            groups.append({"params": [self._generator.chain], "lr": cfg.chain_lr, "weight_decay": 0.0})
        self._opt_g = torch.optim.Adam(groups, lr=cfg.generator_lr, betas=(0.5, 0.9),
                                       weight_decay=cfg.generator_decay, fused=True)
        self._opt_d = torch.optim.Adam(self._discriminator.parameters(), lr=cfg.discriminator_lr,
                                       betas=(0.5, 0.9), weight_decay=cfg.discriminator_decay, fused=True)
        if self._generator.chain is not None and cfg.chain_likelihood and cfg.privacy is None:
            # Its own Adam state: the chain takes one step from the critic and one from the real rows' likelihood.
            self._chain_likelihood = ChainLikelihood(self._layout())
            self._opt_c = torch.optim.Adam([self._generator.chain, self._chain_likelihood.bias], lr=cfg.chain_lr,
                                           betas=(0.5, 0.9), fused=True)
        if cfg.pair_loss == "on" or (cfg.pair_loss == "auto" and cfg.privacy is not None):
            taught = len(taught_blocks(t.block_widths())) > 1
            self._pair_loss = PairLoss(t.block_widths()).to(self.device) if taught else None
        if cfg.target is None or cfg.privacy is not None or cfg.target_loss == "off":
            return
        self._target_model = target_model(t, cfg.target, self._layout(), cfg.discriminator_dim,
                                          numeric_only=cfg.target_loss == "auto")
        if self._target_model is not None:
            self._target_model.to(self.device)
            self._opt_t = torch.optim.Adam(self._target_model.parameters(), lr=cfg.discriminator_lr, betas=(0.5, 0.9),
                                           weight_decay=cfg.discriminator_decay, fused=True)

    def _layout(self) -> BlockLayout:
        return BlockLayout(self.transformer.n_scalars, self.transformer.block_widths(), self.device)

    def generate(self, noise: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The generator's forward pass as sampling runs it: eval-mode statistics folded in, no
        gradients, and in bfloat16 where the CPU computes it natively (about three times the float32
        matrix rate here; the outputs go through tanh, softmax and the calibration maps, which absorb
        the lost digits). `cond`: the conditional one-hot of each row as its column index. The output's
        columns are in the layout's draw order, the calibrated biases added (see FrozenGenerator)."""
        with torch.inference_mode():
            return self._frozen_generator()(noise, cond)

    @property
    def sampled_generator(self) -> Generator:
        """The weights the model samples from, is calibrated on and saves: the generator's average over its
        updates when training keeps one (average_decay), else the generator itself. Training goes on from the
        generator's own weights."""
        return self._generator if self._average is None else self._average

    def _frozen_generator(self) -> FrozenGenerator:
        if self._frozen is None:
            layout = self._layout()
            precision = torch.bfloat16 if self.sample_bf16 else torch.float32
            self._frozen = FrozenGenerator(self.sampled_generator, precision, layout.draw_rows,
                                           self._draw_offset(layout), layout.chain_mask, layout.n_scalars)
        return self._frozen

    def _sampling_condition(self, sampler: ConditionalSampler, rows: int, draws: TaskDraws) -> torch.Tensor | None:
        """The conditional one-hot's column of each row, categories by their true frequency (None without
        categorical columns)."""
        return sampler.true_columns(draws.doubles(rows)) if sampler.cond_blocks else None

    def _step(self, data: _TrainingData, critic: bool = True) -> torch.Tensor:
        """One critic update (or `discriminator_steps`) and one generator update. The last critic update
        and the generator update share one generated batch, as in the DCGAN reference loop: the
        generator runs forward once per step instead of twice."""
        cfg = self.config
        if self._budget is not None:
            from synth import dp

            return dp.private_step(self, data, critic)
        D = self._discriminator
        D.requires_grad_(True)
        for _ in range(cfg.discriminator_steps - 1):
            with torch.no_grad():
                real, fake, cond, _, _, _ = self._batch(data)
            self._critic_update(real, fake, cond)
        real, fake, cond, raw, j, c = self._batch(data)
        loss_d = self._critic_update(real, fake.detach(), cond)

        D.requires_grad_(False)  # the generator's update needs gradients through D, not for it
        if j is not None:
            cond_loss = torch.nn.functional.cross_entropy(data.layout.block_logits(raw, data.cond_block[j]), c)
        else:
            cond_loss = torch.zeros((), device=self.device)
        part = D.one_hot_part(cond)
        features = D.features(fake, part)
        loss_g = -D.score(features).mean() + cond_loss
        if cfg.info_weight:
            with torch.no_grad():
                real_features = D.features(real, part)
            loss_g = loss_g + cfg.info_weight * information_loss(features, real_features)
        loss_t = torch.zeros((), device=self.device)
        if self._target_model is not None:
            loss_t = self._target_update(real, fake)
            loss_g = loss_g + cfg.target_weight * loss_t
        if data.rules is not None:
            loss_g = loss_g + cfg.rule_weight * data.rules(torch.softmax(data.layout.blocks(raw), dim=2))
        loss_p = torch.zeros((), device=self.device)
        if self._pair_loss is not None:
            loss_p = self.pair_loss(data, fake, j, c)
            loss_g = loss_g + cfg.pair_weight * loss_p
        self._opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self._opt_g.step()
        if self._chain_likelihood is not None:
            self._chain_update(data)
        return torch.stack([loss_g.detach(), loss_d, cond_loss.detach(), loss_t.detach(), loss_p.detach()])

    def _batch(self, data: _TrainingData):
        """Real rows and generated rows for one set of conditional vectors, and the vectors as the index
        of their one-hot column (None without categorical columns)."""
        n, gen = data.rows_per_step, self._gen
        j, c = data.sampler.sample_condition(n, gen) or (None, None)
        rows = data.sampler.sample_rows(j, c, n, gen)
        real = data.layout.expand(data.scalars[rows], data.codes[rows])
        noise = torch.randn(n, self.config.embedding_dim, generator=gen, device=self.device)
        cond = None if j is None else data.sampler.one_hot_index(j, c)
        fake, raw = self.activate(data.layout, self._generator.forward_one_hot(noise, cond), cond)
        return real, fake, cond, raw, j, c

    def activate(self, layout: BlockLayout, raw: torch.Tensor,
                 cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's raw output as the critic sees it, and its logits with the chain's shifts (raw itself
        without a chain). `cond`: each row's conditional one-hot column, or None."""
        chain = self._generator.chain
        if chain is None:
            return layout.activate(raw, self._gen), raw
        return layout.activate_chained(raw, self._gen, chain, self._given(cond))

    def _given(self, cond: torch.Tensor | None) -> torch.Tensor | None:
        """Each row's condition as the chain reads it: its column among all one-hot columns."""
        return None if cond is None or self._generator.chain is None else self._cond_columns[cond]

    def _critic_update(self, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Real and generated rows go through the critic as one batch, which shares the one-hot part of
        the first layer; the penalty's points start from the same first layer outputs."""
        D = self._discriminator
        part = D.one_hot_part(cond)
        groups = real.shape[0] // D.pac
        first = D.first_layer(torch.cat([fake, real]), None if part is None else part.repeat(2, 1))
        scores = D.seq(first)
        penalty = gradient_penalty(D, first[groups:], first[:groups], self._gen)
        loss = scores[:groups].mean() - scores[groups:].mean() + penalty
        self._opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self._opt_d.step()
        return loss.detach()

    def _chain_update(self, data: _TrainingData) -> None:
        """One step of the chain's likelihood on a batch of real rows drawn uniformly: the conditional sampler's
        rows over-represent rare categories, which would bias how likely one category is given another."""
        rows = torch.randint(0, data.codes.shape[0], (data.rows_per_step,), generator=self._gen, device=self.device)
        loss = self._chain_likelihood(data.layout, self._generator.chain, data.codes[rows].long())
        self._opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self._opt_c.step()

    def _target_update(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One update of the target's model on real rows; then its loss on the generated rows, with the generated
        target as the label, for the generator's update (synth.auxiliary)."""
        model = self._target_model
        model.requires_grad_(True)
        loss = model.loss(real, model.label(real))
        self._opt_t.zero_grad(set_to_none=True)
        loss.backward()
        self._opt_t.step()
        model.requires_grad_(False)
        return model.loss(fake, model.label(fake).detach())

    def pair_loss(self, data: _TrainingData, fake: torch.Tensor, j: torch.Tensor | None,
                  c: torch.Tensor | None) -> torch.Tensor:
        """The pair tables' loss on a generated batch, its rows weighted back to the true frequencies of their
        conditions (synth.pairs)."""
        weights = None if j is None else data.sampler.weights(j, c)
        return self._pair_loss(fake[:, data.layout.n_scalars:], weights)

    def _restore_rng(self) -> None:
        if self._resume_state is None:
            return
        torch.set_rng_state(self._resume_state["cpu"])
        self._gen.set_state(self._resume_state["gen"])
        if self.device.type == "cuda" and "cuda" in self._resume_state:
            torch.cuda.set_rng_state(self._resume_state["cuda"], self.device)
        self._resume_state = None

    # ---- calibration -----------------------------------------------------------------------------
    def _calibrate(self, codes: np.ndarray) -> None:
        """Fit the decode-time corrections on an unconditional sample from the trained generator."""
        t = self.transformer
        for enc in t.continuous:
            enc.calibration = None
        self.biases = None
        self._frozen = None  # the sampling network holds the biases
        layout = self._layout()
        draws = TaskDraws(np.random.SeedSequence(self.config.seed + 1), self.device)  # as sampling draws
        sampler = self._sampling_sampler()
        rows = CALIBRATION_ROWS
        with torch.inference_mode():
            cond = self._sampling_condition(sampler, rows, draws)
            raw = self.generate(draws.normal(rows, self.config.embedding_dim), cond)
            ordered = raw.index_select(1, layout.undraw_rows)
            logits = layout.blocks(ordered)
            chain = self._frozen_generator().chain
            uniforms = None if chain is None else draws.uniform(layout.n_blocks, rows)
            probs_target = self._real_frequencies(codes, layout)  # codes None: the released ones (synth.dp)
            bias = torch.zeros(layout.n_blocks, layout.max_width, device=self.device)
            # Fixed point: shift each block's logits until its mean matches reality. With the chain, a block's
            # mean depends on the draws before it, so each step draws the rows again (with the same uniforms).
            for _ in range(4 if chain is None else CHAIN_CALIBRATION_STEPS):
                if chain is None:
                    mean = torch.softmax(logits + bias, dim=2).mean(0)
                else:
                    flat = torch.cat([bias.new_zeros(layout.n_scalars), bias[~layout.pad]])
                    mean = torch.zeros_like(bias)
                    layout.draw_chained(ordered.t() + flat[:, None], uniforms.clone(), chain, mean, self._given(cond))
                bias = bias + torch.log(probs_target.clamp_min(1e-8)) - torch.log(mean.clamp_min(1e-8))
                bias = bias.masked_fill(layout.pad, 0.0).clamp(-20, 20)
            self.biases = [bias[b, :w].tolist() for b, w in enumerate(t.block_widths())]
            self._frozen = None
            # The same rows with the biases added as the sampling network adds them, their modes drawn as
            # sampling will draw them, so that the quantile maps below start from the values it will produce.
            offset = self._draw_offset(layout)
            if offset is not None:
                raw += offset
            scalars, block_codes = self._decode_raw(raw, layout, draws, cond)
        for b, (kind, i) in enumerate(t.blocks):
            if kind != "continuous":
                continue
            enc = t.continuous[i]
            k = len(enc.weights)
            mode = block_codes[:, b]
            valid = mode < k
            if valid.sum() < 100:
                continue
            m = mode[valid]
            z = np.clip(scalars[valid, i], -1, 1) * 4 * np.asarray(enc.stds)[m] + np.asarray(enc.means)[m]
            grid = np.quantile(z, np.linspace(0, 1, len(enc.quantiles)))
            enc.calibration = np.maximum.accumulate(grid).tolist()

    def _real_frequencies(self, codes: np.ndarray | None, layout: BlockLayout) -> torch.Tensor:
        out = torch.zeros(layout.n_blocks, layout.max_width, device=self.device)
        widths = self.transformer.block_widths()
        if codes is None:
            from synth import dp

            released = dp.target_frequencies(self.transformer, widths)
        for b, w in enumerate(widths):
            counts = np.bincount(codes[:, b], minlength=w)[:w] if codes is not None else released[b]
            out[b, :w] = torch.from_numpy(counts / counts.sum()).float()
        return out

    # ---- sampling --------------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None, conditions: dict | None = None) -> pd.DataFrame:
        """`n` rows with the training table's columns and dtypes."""
        return next(self.sample_batches(n, chunk_rows=n, seed=seed, conditions=conditions))

    def sample_batches(self, n: int, chunk_rows: int = 50_000, seed: int | None = None,
                       conditions: dict | None = None) -> Iterator[pd.DataFrame]:
        """`n` rows as DataFrames of `chunk_rows` rows (the last may be shorter), in bounded memory.
        The rows depend on `n`, `seed` and `conditions`, not on `chunk_rows`."""
        self._check_fitted()
        n = _check_count("n", n)
        chunk_rows = _check_count("chunk_rows", chunk_rows)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        plan = plan_conditions(conditions, self.schema, self.transformer)  # errors before any work
        return _rechunk(self._row_stream(n, int(seed), plan), chunk_rows)

    def _row_stream(self, n: int, seed: int, plan: Plan) -> Iterator[pd.DataFrame]:
        """Rows meeting `plan`, task after task. Each task draws from its own seeded streams, so tasks
        can run on several threads (synth.parallel) and the rows still depend only on `n`, `seed` and
        `plan`."""
        conditioned = bool(plan.discrete or plan.ranges or plan.equals)
        # Small requests generate few rows in one task (the rows then depend on n as well as on the seed);
        # larger ones are split in at least two, for two workers. The split depends on n alone.
        size = max(MIN_GEN_BATCH, n) if n <= GEN_BATCH else min(TASK_ROWS, -(-n // 2))
        # Built here once, not raced for by the workers.
        self._sampling_parts()
        self._frozen_generator()
        keep_freed_memory()  # every batch frees tens of MB that the next one needs again
        # Tasks run `depth` at a time (fewer where torch has fewer threads, see run_in_order). Task k is
        # sized, and told whether to force conditions, from the results `depth` places before it, which
        # every number of workers has counted by the time it builds task k: so these, like the rows,
        # depend on n, seed and plan alone.
        depth = SAMPLE_WORKERS if n > GEN_BATCH else 1
        counted = [(0, 0, False)]  # after each result: rows generated and kept so far, forcing from then on
        produced = 0

        # Conditioned, the tasks before any result take a tenth more than their share of the request: a
        # condition nearly every row meets then takes one round of tasks, not a second for the last few rows.
        first = min(TASK_ROWS, size * 11 // 10)

        def tasks() -> Iterator[Callable[[], tuple[pd.DataFrame, int]]]:
            k = built = 0
            while conditioned or k * size < n:  # unconditioned, every row is kept: no more than n are needed
                generated, kept, forcing = counted[max(0, k - depth + 1)]
                if conditioned:
                    rate = kept / generated if generated else None
                    rows = _conditioned_task_rows(n - kept, rate, built - generated, first)
                else:
                    rows = min(size, n - k * size)
                built += rows
                yield functools.partial(self._batch_rows, rows, [seed, k], plan, forcing)
                k += 1

        for frame, batch in run_in_order(tasks(), depth):
            generated, kept, forcing = counted[-1]
            generated, kept = generated + batch, kept + len(frame)
            frame = self._with_ids(frame.iloc[: n - produced], start=produced, total=n, seed=seed)
            produced += len(frame)
            if len(frame):
                yield frame
            if produced >= n:
                return
            counted.append((generated, kept, forcing or self._check_progress(plan, produced, generated, n)))

    def _batch_rows(self, batch: int, key: list[int], plan: Plan, forcing: bool) -> tuple[pd.DataFrame, int]:
        """Generate `batch` rows from the streams of `key` and keep those meeting `plan` (all their
        columns but the IDs); with `forcing`, categorical conditions are set rather than waited for.
        The network runs on at most GEN_BATCH rows at a time; the DataFrame is built once."""
        rng = np.random.default_rng(key)  # decoding's draws (rare categories, nulls) and forced conditions
        draws = TaskDraws(np.random.SeedSequence(key).spawn(1)[0], self.device)  # the network's and the draws'
        layout, sampler = self._sampling_parts()
        steer = self._steering(plan)
        parts = []
        for start in range(0, batch, GEN_BATCH):
            rows = min(GEN_BATCH, batch - start)
            with torch.inference_mode():
                if steer is not None:
                    block, accepted = steer
                    j = torch.full((rows,), self.transformer.discrete_blocks().index(block), device=self.device)
                    c = torch.from_numpy(self._draw_codes(block, accepted, rows, rng)).to(self.device).long()
                    cond = sampler.one_hot_index(j, c)
                else:
                    cond = self._sampling_condition(sampler, rows, draws)
                raw = self.generate(draws.normal(rows, self.config.embedding_dim), cond)
                parts.append(self._decode_raw(raw, layout, draws, cond))
        # Column-major, as decoding reads them (a column at a time) and as the network wrote them.
        scalars, codes = (np.concatenate([a.T for a in p], axis=1).T for p in zip(*parts, strict=True))
        if plan.discrete:
            keep = np.ones(batch, dtype=bool)
            for block, accepted in plan.discrete:
                if forcing:
                    codes[:, block] = self._draw_codes(block, accepted, batch, rng)
                keep &= np.isin(codes[:, block], accepted)
            scalars, codes = scalars[keep], codes[keep]
        frame = self._frame(scalars, codes, rng)
        for name, value in plan.forced.items():
            frame[name] = category_column(self.schema[name], Coded(np.zeros(len(frame), np.int64), [value]))
        if plan.ranges or plan.equals:
            mask = np.ones(len(frame), dtype=bool)
            for name, low, high in plan.ranges:
                x = numeric_values(frame[name], self.schema[name])
                mask &= (x >= low) & (x <= high)
            for name, value in plan.equals:
                mask &= (frame[name].astype(object) == value).to_numpy()
            frame = frame[mask].reset_index(drop=True)
        return frame, batch

    def _check_progress(self, plan: Plan, produced: int, generated: int, n: int) -> bool:
        """Whether to force categorical conditions from now on; raise when a range cannot be met."""
        budget = max(20 * n, 100_000)  # rows generated before conditions are forced or given up
        if generated < budget:
            return False
        if plan.ranges or plan.equals:
            rate = produced / generated
            if rate == 0 or (n - produced) / rate > 20 * budget:
                names = ", ".join([name for name, _, _ in plan.ranges] + [name for name, _ in plan.equals])
                raise SynthError(f"the model almost never generates rows meeting the conditions on {names} "
                                 f"({produced} of {generated} rows met them); relax them")
        return True  # categorical conditions that the generator rarely meets are set directly

    def _sampling_parts(self) -> tuple[BlockLayout, ConditionalSampler]:
        """What every sample call needs and no sample call changes; built on the first one."""
        if self._sampling is None:
            self._sampling = (self._layout(), self._sampling_sampler())
        return self._sampling

    def _sampling_sampler(self) -> ConditionalSampler:
        """Conditional vectors for sampling: true category frequencies from the fitted transformer."""
        t = self.transformer
        widths = t.block_widths()
        cond_blocks = t.discrete_blocks()
        sampler = ConditionalSampler(np.zeros((1, len(widths)), dtype=np.int32), widths, cond_blocks,
                                     False, self.device)
        if cond_blocks:
            sampler.set_true_frequencies(np.concatenate([t.discrete[t.blocks[b][1]].frequencies
                                                         for b in cond_blocks]))
        return sampler

    def _steering(self, plan: Plan) -> tuple[int, list[int]] | None:
        """The categorical condition that the conditional vector carries: the rarest, which rejection
        alone would meet least often; the others are met by rejection."""
        if not plan.discrete:
            return None
        return min(plan.discrete, key=lambda item: self._frequencies(item[0])[item[1]].sum())

    def _frequencies(self, block: int) -> np.ndarray:
        return np.asarray(self.transformer.discrete[self.transformer.blocks[block][1]].frequencies)

    def _draw_codes(self, block: int, accepted: list[int], n: int, rng: np.random.Generator) -> np.ndarray:
        """Codes among `accepted`, by their real frequencies."""
        p = self._frequencies(block)[accepted]
        return np.asarray(accepted)[rng.choice(len(accepted), n, p=p / p.sum())].astype(np.int32)

    def _draw_offset(self, layout: BlockLayout) -> torch.Tensor | None:
        """The calibrated biases (None before calibration) as FrozenGenerator's output offset."""
        if not self.biases:
            return None
        per_column = torch.tensor([v for values in self.biases for v in values], device=self.device)
        return layout.draw_offset(per_column)

    def _decode_raw(self, raw: torch.Tensor, layout: BlockLayout, draws: TaskDraws,
                    cond: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
        """`generate`'s output to (scalars, codes): tanh, and one category drawn per block (which may
        overwrite the logits, see BlockLayout.draw); `cond`, the rows' conditional one-hot columns, as
        `generate` was given them (the chain reads them)."""
        return layout.decode(raw, draws.uniform(layout.n_blocks, raw.shape[0]), self._frozen_generator().chain,
                             self._given(cond))

    def _frame(self, scalars: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Decoded rows with every column but the IDs, which depend on the row's final position."""
        decoded = self.transformer.inverse(scalars, codes, rng)
        on_grid = self._add_sums(decoded)
        n = len(scalars)
        columns = {}
        for spec in self.schema.columns:
            if spec.kind == "id":
                continue
            if spec.kind == "constant":
                codes = (rng.random(n) < spec.null_rate).astype(np.int64)  # 1: null, at the real rate
                columns[spec.name] = category_column(spec, Coded(codes, [spec.extra.get("value"), None]))
            elif spec.numeric and not spec.discrete:
                columns[spec.name] = numeric_column(spec, decoded[spec.name], spec.name in on_grid)
            else:
                columns[spec.name] = category_column(spec, decoded[spec.name])
        # The columns' arrays, which are new (no copy) and need no aligning on an index as Series do: half
        # the time, which counts in a small sample.
        return pd.DataFrame({name: column.array for name, column in columns.items()}, index=pd.RangeIndex(n),
                            copy=False)

    def _add_sums(self, decoded: dict[str, object]) -> set[str]:
        """Each sum's total from its parts' final values (synth.sums), in place; the names of the columns set."""
        done = set()
        for total in self.transformer.sums:
            specs = [self.schema[p] for p in total.parts] + [self.schema[total.name]]
            a, b = (numeric_on_grid(spec, decoded[spec.name]) for spec in specs[:2])
            decoded[specs[0].name], decoded[specs[1].name], decoded[total.name] = add_parts(
                a, b, *(bounds_of(spec) for spec in specs), specs[2].extra.get("decimals"))
            done.update(spec.name for spec in specs)
        return done

    def _with_ids(self, frame: pd.DataFrame, start: int, total: int, seed: int) -> pd.DataFrame:
        if not self.ids:
            return frame
        frame = frame.reset_index(drop=True)
        for spec in self.ids:
            values = generate_ids(spec, start, len(frame), total, seed)
            frame[spec.name] = pd.Series(values, dtype=self.schema[spec.name].dtype if values.dtype != object
                                         else None)
        return frame[self.schema.names]

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write path/model.safetensors (generator weights) and path/model.json (everything else)."""
        self._check_fitted()
        artifact.save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", sample_precision: str = "auto") -> Synthesizer:
        return artifact.load_model(cls, path, device, sample_precision)

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """The full training state: both networks, both optimisers, epoch, RNG states, transformer."""
        if self.transformer is None:
            raise SynthError("nothing to checkpoint: fit() has not started")
        artifact.save_checkpoint(self, path)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto") -> Synthesizer:
        return artifact.load_checkpoint(cls, path, device)

    # ---- helpers ---------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._generator is not None and self.epochs_done > 0

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise SynthError("the model is not trained yet: call fit() first")

    def config_dict(self) -> dict:
        data = asdict(self.config)
        data["generator_dim"] = list(data["generator_dim"])
        data["discriminator_dim"] = list(data["discriminator_dim"])
        return data


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise SynthError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise SynthError("device 'cuda' was asked for, but this machine has no usable GPU")
        # cuBLAS is only reproducible with a fixed workspace; it must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return resolved


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """On CUDA, pick deterministic kernels while training (same seed, same model); CPU ones already are."""
    if device.type != "cuda":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


@contextlib.contextmanager
def _flushed_denormals(device: torch.device):
    """On CPU, train with numbers too small for a float's normal range flushed to zero. The chain's large negative
    shifts leave probabilities of about 1e-40 in the softmaxes and their gradients, and x86 cores compute on such
    subnormal numbers many times slower than on others; flushed, they are zero, which they all but are (BENCHMARKS.md,
    "Subnormal numbers"). The setting is the calling thread's; it is put back as it was after, read off how a
    subnormal number converts (a library built with fast math may have turned it on)."""
    was_flushing = torch.tensor([1e-40]).item() == 0.0
    if device.type != "cpu" or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(was_flushing)


def resolve_sample_precision(precision: str, device: torch.device) -> bool:
    """Whether sampling runs the generator in bfloat16: 'auto' does on CPUs with native bf16 units."""
    if precision not in ("auto", "bf16", "fp32"):
        raise SynthError(f"sample_precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    if precision == "auto":
        return device.type == "cpu" and bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return precision == "bf16"


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SynthError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise SynthError(f"{name} must be at least 1, got {value}")
    return int(value)


def _steps_per_epoch(rows: int, batch_size: int) -> int:
    return max(rows // batch_size, 1)


def _conditioned_task_rows(missing: int, rate: float | None, in_flight: int, first: int) -> int:
    """Rows for the next task of a conditioned request: at the share of generated rows kept so far
    (`rate`), enough for the `missing` rows that the `in_flight` rows are not expected to give, and a tenth
    more; `first` before any task has come back. Fixed-size tasks had generated twice the rows needed when
    nearly every row is kept (two tasks in flight, each enough for half of the request)."""
    if rate is None:
        return first
    if rate == 0:
        return TASK_ROWS
    need = missing - in_flight * rate
    return min(TASK_ROWS, max(MIN_GEN_BATCH, math.ceil(11 * need / (10 * rate))))


def _rechunk(frames: Iterator[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        pending.append(frame)
        held += len(frame)
        while held >= size:
            merged = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            yield merged.iloc[:size].reset_index(drop=True)
            rest = merged.iloc[size:]
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)


def _json_scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return str(v)
    return v


__all__ = ["Config", "EpochInfo", "Synthesizer"]
