"""The two networks of CTGAN and the output activation, each a few lines.

Generator: residual blocks (linear, batch norm, ReLU, concatenated with their input) then a linear layer.
Discriminator: PacGAN, `pac` rows judged together, leaky ReLU and dropout, one score (WGAN critic).
The activation turns raw generator output into data: tanh for the scalars and Gumbel-softmax for every
one-hot block, on buckets of blocks padded to a common width instead of a loop over columns, forward and
backward written out (_Activation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

# A training bucket's own ops cost about as much as this many padded rows of its batch (measured on Adult:
# DESIGN.md, "Measurements behind the code").
BUCKET_COST = 8.0


class Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    """Its input is [noise | conditional one-hot]; the one-hot's `cond_dim` columns come last."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int, cond_dim: int = 0, chain_dim: int = 0):
        super().__init__()
        self.cond_dim = cond_dim
        layers, dim = [], in_dim
        for h in hidden:
            layers.append(Residual(dim, h))
            dim += h
        layers.append(nn.Linear(dim, out_dim))
        self.seq = nn.Sequential(*layers)
        # The autoregressive head (Config.chain): chain[i, j] shifts the logit of one-hot column j when column i,
        # of an earlier block, was drawn. Starts at zero: independent draws, as without it. BlockLayout.chain_mask
        # keeps it to earlier blocks.
        self.chain = nn.Parameter(torch.zeros(chain_dim, chain_dim)) if chain_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)

    def forward_one_hot(self, noise: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """forward([noise | one_hot(cond)]) without making the one-hot: every layer sees it (the residual
        blocks pass their input on), and each looks up its `cond` columns instead of multiplying by
        mostly zeros (four tenths of the generator's products on Adult). `cond`: (batch,) column index.
        Backward skips the gradient for the noise, which every layer also sees and nothing needs."""
        *residuals, last = self.seq
        x, tail = noise, noise.shape[1]
        for block in residuals:
            x = torch.cat([torch.relu(block.bn(_LinearOneHot.apply(x, cond, block.fc.weight, block.fc.bias, tail))),
                           x], dim=1)
        return _LinearOneHot.apply(x, cond, last.weight, last.bias, tail)


class _LinearOneHot(torch.autograd.Function):
    """A linear layer over [dense | one_hot(cond)] (no one-hot when cond is None), the one-hot's columns
    being the weight's last ones: they are looked up, and their gradient is added at the looked-up columns.
    Written out because slicing the weight under autograd zero-fills and adds whole-weight gradients
    several times per layer, which costs what the lookup saved; and so that the gradient for the last
    `tail` columns of `dense` (the noise) is not computed."""

    @staticmethod
    def forward(ctx, dense, cond, weight, bias, tail):
        split = dense.shape[1]
        ctx.save_for_backward(dense, cond, weight)
        ctx.tail = tail
        if cond is None:
            return torch.addmm(bias, dense, weight[:, :split].t())
        # Each row starts from the bias plus its one-hot's weight column, looked up in a contiguous
        # (columns, out) table, not in the weight's strided columns.
        start = weight[:, split:].t().contiguous().add_(bias).index_select(0, cond)
        return torch.addmm(start, dense, weight[:, :split].t())

    @staticmethod
    def backward(ctx, grad):
        dense, cond, weight = ctx.saved_tensors
        split = dense.shape[1]
        grad_dense = None
        if ctx.needs_input_grad[0]:
            live = split - ctx.tail
            grad_dense = torch.empty_like(dense)
            torch.mm(grad, weight[:, :live], out=grad_dense[:, :live])
            grad_dense[:, live:] = 0
        grad_weight = torch.empty_like(weight)
        torch.mm(grad.t(), dense, out=grad_weight[:, :split])
        if cond is not None:
            one_hot = torch.zeros(weight.shape[1] - split, weight.shape[0], dtype=grad.dtype, device=grad.device)
            grad_weight[:, split:] = one_hot.index_add_(0, cond, grad).t()
        return grad_dense, None, grad_weight, grad.sum(0), None


TAU = 0.2  # the Gumbel-softmax temperature of the generator's category outputs in training (CTGAN's)

# Rows per pass of FrozenGenerator on the CPU: each layer's activations (256 wide) stay within a core's
# cache, which larger passes overflow.
CPU_PASS_ROWS = 2_048


class FrozenGenerator:
    """A trained generator prepared for sampling: batch norm folded into its linear layer, each
    concatenation [h; x] replaced by split weights (W [h; x] = W_h h + W_x x), the conditional one-hot's
    columns looked up, all in `dtype`. The same function as `Generator.eval()`, without the copies that
    the concatenations make or the products with mostly zeros. Its output columns come in the order
    `rows` gives (BlockLayout.draw_rows: each draw bucket's logits contiguous, so drawing needs no gather),
    with `offset` added to them (the decode-time bias: in the last layer's start values, or in its float32
    conversion when the network runs in bfloat16, so without a pass of its own). The first `exact` output columns
    (the scalars, first in draw order) come from a float64 last layer even when the rest runs in bfloat16: its
    8 bits of mantissa would put a continuous column's values on a lattice of a few hundred points."""

    def __init__(self, generator: Generator, dtype: torch.dtype, rows: torch.Tensor | None = None,
                 offset: torch.Tensor | None = None, chain_mask: torch.Tensor | None = None, exact: int = 0):
        self.dtype = dtype
        # The chain's weights as BlockLayout.draw_chained reads them, kept to earlier-to-later blocks (None without
        # a chain): made once here rather than for every batch drawn.
        self.chain = None if generator.chain is None else (generator.chain.detach() * chain_mask).float()
        *residuals, last = generator.seq
        cond_dim = generator.cond_dim
        sizes = [(residuals[0].fc if residuals else last).in_features - cond_dim, cond_dim]
        self.layers = []  # (weights per dense input part, newest first, each (in, out); start values)
        with torch.no_grad():
            for block in residuals:
                bn = block.bn
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                weight = block.fc.weight * scale[:, None]
                bias = (block.fc.bias - bn.running_mean) * scale + bn.bias
                self.layers.append(self._split(weight, bias, sizes))
                sizes = [block.fc.out_features] + sizes
            weight, bias = last.weight, last.bias
            if rows is not None:
                weight, bias = weight.index_select(0, rows), bias.index_select(0, rows)
            # The offset joins the bias where that keeps its digits: in a float32 network; a bfloat16 one
            # rounds a logit of 10 to 1/16, so there it is added to the float32 output instead.
            self.offset = None
            self.exact = k = exact if dtype != torch.float32 else 0
            if offset is not None and dtype == torch.float32:
                bias = bias + offset
            elif offset is not None:
                self.offset = offset.float()[k:, None]
            # The last layer is kept as (out, in): it writes its output transposed, see __call__.
            # In float64, rounded to float32 after: MKL's float32 products change in their last bits with the
            # threads and the memory's alignment, and a value rounded to whole units would follow them.
            self.exact_head = None if not k else self._head_weights(
                weight[:k], bias[:k] if offset is None else bias[:k] + offset[:k], sizes, torch.float64)
            self.head = self._head_weights(weight[k:], bias[k:], sizes, dtype)

    def _split(self, weight: torch.Tensor, bias: torch.Tensor, sizes: list[int], dtype: torch.dtype | None = None):
        """(in, out) weights per dense input part (the hidden outputs, then the noise), and the start value
        of the output: the bias, or with a one-hot the bias plus its row, one row per one-hot column (a
        row has exactly one, so its lookup is where the product starts; no separate addition)."""
        dtype = dtype or self.dtype
        *parts, one_hot = [p.t().contiguous() for p in torch.split(weight, sizes, dim=1)]
        start = bias[None, :] + one_hot if sizes[-1] else bias
        return [p.to(dtype) for p in parts], start.detach().to(dtype)

    def _head_weights(self, weight: torch.Tensor, bias: torch.Tensor, sizes: list[int], dtype: torch.dtype):
        """The last layer's (out, in) weights per dense input part and its start values, in `dtype`."""
        weights, start = self._split(weight, bias, sizes, dtype)
        return [w.t().contiguous() for w in weights], start if sizes[-1] else start[None, :]

    def __call__(self, noise: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(batch, out) float32 for `noise` (batch, noise dim) and the one-hots' columns `cond` (batch,),
        as a transposed view of a contiguous (out, batch) tensor: decoding works along the batch axis,
        and this way it needs no copy to get there. On the CPU the rows go through in slices of
        CPU_PASS_ROWS, whose activations stay in the core's cache."""
        batch = noise.shape[0]
        step = batch if noise.device.type != "cpu" else CPU_PASS_ROWS
        if batch <= step and not self.exact:
            return self._head(self._hidden(noise, cond), cond).t()
        out = torch.empty(self.exact + self.head[1].shape[-1], batch, device=noise.device)
        for s in range(0, batch, step):
            part = None if cond is None else cond[s:s + step]
            parts = self._hidden(noise[s:s + step], part)
            if self.exact:
                self._exact(parts, part, out[: self.exact, s:s + step])
            self._head(parts, part, out[self.exact:, s:s + step])
        return out.t()

    def _exact(self, parts: list[torch.Tensor], cond: torch.Tensor | None, out: torch.Tensor) -> None:
        """The exact columns of the last layer (see `exact`), written transposed into `out`."""
        out.copy_(self._transposed(self.exact_head, [part.double() for part in parts], cond))

    def _hidden(self, noise: torch.Tensor, cond: torch.Tensor | None) -> list[torch.Tensor]:
        """The residual layers' outputs, newest first, then the noise: the head's dense inputs."""
        parts = [noise.to(self.dtype)]
        for weights, start in self.layers:
            parts.insert(0, self._linear(parts, weights, self._start(start, cond)).relu_())
        return parts

    def _head(self, parts: list[torch.Tensor], cond: torch.Tensor | None,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer, written transposed (out, rows) in float32, into `out` when given."""
        head = self._transposed(self.head, parts, cond)
        if self.offset is not None:
            return torch.add(self.offset, head, out=out)  # the float32 conversion and the offset, one pass
        if out is None:
            return head.float()
        return out.copy_(head)

    def _transposed(self, head: tuple, parts: list[torch.Tensor], cond: torch.Tensor | None) -> torch.Tensor:
        """A last layer's output, (out, rows), from its (out, in) weights per part and start values."""
        weights, start = head
        out = torch.addmm(self._start(start, cond).t(), weights[0], parts[0].t())
        for part, weight in zip(parts[1:], weights[1:], strict=True):
            out.addmm_(weight, part.t())
        return out

    @staticmethod
    def _start(start: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return start if cond is None else start.index_select(0, cond)

    @staticmethod
    def _linear(parts, weights, start) -> torch.Tensor:
        out = torch.addmm(start, parts[0], weights[0])
        for part, weight in zip(parts[1:], weights[1:], strict=True):
            out.addmm_(part, weight)
        return out


class Dropout(nn.Module):
    """nn.Dropout, with its mask drawn faster: bernoulli_ is slower than uniform draws on CPU, and at p = 0.5
    (CTGAN's critic's) a kept unit is one random bit, eight of them per 64-bit draw."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask(x)
        return x if mask is None else x * mask

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """The scaled keep mask for `x` (0 or 1 / (1 - p)), None when nothing is dropped."""
        if not self.training or self.p == 0:
            return None
        if self.p == 0.5:
            # random_() on int64 fills the low 63 bits: bit 0 of each of the 8 bytes is a fair coin.
            words = torch.empty((x.numel() + 7) // 8, dtype=torch.int64, device=x.device).random_()
            keep = words.view(torch.uint8)[: x.numel()].view(x.shape).bitwise_and(1)
            return keep.to(x.dtype).mul_(2)
        return (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1 / (1 - self.p))


class Discriminator(nn.Module):
    """The PacGAN critic, `pac` rows judged together. A pac group enters as [its rows' data | their
    conditional one-hots], a fixed permutation of the row-after-row layout that a random initialisation
    cannot tell apart. Its first layer is kept as two weights, one per part: the data part is multiplied,
    the one-hot part is looked up (one row per one-hot), once per batch of conditions, as real and
    generated rows share them."""

    def __init__(self, data_dim: int, cond_dim: int, hidden: tuple[int, ...], pac: int, dropout: float = 0.5):
        super().__init__()
        self.data_dim, self.cond_dim, self.pac = data_dim, cond_dim, pac
        # Row r of a group looks up its one-hot in the r-th block of cond_weight's rows.
        self.register_buffer("_row_offsets", cond_dim * torch.arange(pac), persistent=False)
        # nn.Linear's initialisation of the whole first layer, U(-1/sqrt(fan in), +), split in two.
        bound = ((data_dim + cond_dim) * pac) ** -0.5
        # Both kept as (inputs, hidden): their gradients are then (inputs, groups) @ (groups, hidden) products,
        # which CPUs compute faster than (hidden, inputs) ones for 50-100 groups.
        self.data_weight = nn.Parameter(torch.empty(pac * data_dim, hidden[0]).uniform_(-bound, bound))
        self.cond_weight = nn.Parameter(torch.empty(pac * cond_dim, hidden[0]).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(hidden[0]).uniform_(-bound, bound))
        layers = [nn.LeakyReLU(0.2), Dropout(dropout)]
        for i, h in enumerate(hidden[1:]):
            layers += [nn.Linear(hidden[i], h), nn.LeakyReLU(0.2), Dropout(dropout)]
        layers.append(nn.Linear(hidden[-1], 1))
        self.seq = nn.Sequential(*layers)

    def one_hot_part(self, cond: torch.Tensor | None) -> torch.Tensor | None:
        """The first layer's share from the groups' one-hots, (groups, hidden): one weight row per data
        row. `cond`: (batch,) the column of each row's one-hot."""
        if cond is None:
            return None
        index = (cond.reshape(-1, self.pac) + self._row_offsets).flatten()
        return self.cond_weight.index_select(0, index).reshape(-1, self.pac, self.bias.shape[0]).sum(1)

    def first_layer(self, data: torch.Tensor, one_hot_part: torch.Tensor | None) -> torch.Tensor:
        out = torch.addmm(self.bias, data.reshape(-1, self.pac * self.data_dim), self.data_weight)
        return out if one_hot_part is None else out + one_hot_part

    def forward(self, data: torch.Tensor, one_hot_part: torch.Tensor | None = None) -> torch.Tensor:
        """One score per pac group of `data` rows (batch, data_dim)."""
        return self.seq(self.first_layer(data, one_hot_part))

    def features(self, data: torch.Tensor, one_hot_part: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's output per pac group, from which `score` makes `forward`'s score."""
        return self.seq[:-1](self.first_layer(data, one_hot_part))

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return self.seq[-1](features)


def information_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """CTAB-GAN's information loss (Zhao et al. 2021): how far the generated rows' critic features are from the real
    rows', in their means and in their spreads over the batch. The critic's score alone tells the generator which
    way each row should move; this also asks the batch to spread over the features as real rows do."""
    return (torch.linalg.vector_norm(fake.mean(0) - real.mean(0))
            + torch.linalg.vector_norm(fake.std(0) - real.std(0)))


class ChainLikelihood(nn.Module):
    """The chain's likelihood on real rows (Config.chain_likelihood): a logistic model of each block's category
    given the categories of the blocks before it in the row, whose weights are the chain's (Generator.chain) and
    whose biases, one per one-hot column, are its own. The critic teaches the chain only through the generated rows
    it tells apart, and a pair that one generated row in 200 holds (a female husband) moves it little; the real
    rows' likelihood pushes down the shift of a pair they never hold at every step. The model keeps the chain
    only: these biases stay in training (the generator's logits take their place in sampling)."""

    def __init__(self, layout: BlockLayout):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(layout.width - layout.n_scalars, device=layout.pad.device))
        # Each block's one-hot columns padded to the widest (BlockLayout.blocks, less the scalars), and where each
        # column sits in that padded view: the way back.
        self.register_buffer("gather", (layout.full_gather - layout.n_scalars).clamp(min=0), persistent=False)
        self.register_buffer("place", (~layout.pad).flatten().nonzero().squeeze(1), persistent=False)

    def forward(self, layout: BlockLayout, chain: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of rows' `codes` (rows, blocks), summed over blocks, averaged over rows."""
        one_hot = torch.zeros(codes.shape[0], self.bias.shape[0], device=codes.device)
        one_hot.scatter_(1, codes + (layout.offsets - layout.n_scalars), 1.0)
        return _ChainLikelihood.apply(self.bias, chain * layout.chain_mask, one_hot, codes, self.gather, layout.pad,
                                      self.place)


class _ChainLikelihood(torch.autograd.Function):
    """ChainLikelihood's loss, its gradient written out (softmax less the one-hot, per block): autograd's graph of
    the same dozen ops cost more than the arithmetic on a batch of a few hundred rows."""

    @staticmethod
    def forward(ctx, bias, weight, one_hot, codes, gather, pad, place):
        rows = codes.shape[0]
        logits = torch.addmm(bias, one_hot, weight)
        blocks = logits.index_select(1, gather).view(rows, *pad.shape).masked_fill(pad, float("-inf"))
        p = torch.softmax(blocks, dim=2)
        ctx.save_for_backward(p, one_hot, codes, place)
        return -p.gather(2, codes[:, :, None]).log().sum() / rows

    @staticmethod
    def backward(ctx, grad):
        p, one_hot, codes, place = ctx.saved_tensors
        rows = codes.shape[0]
        g = p.scatter_add(2, codes[:, :, None], p.new_full((rows, codes.shape[1], 1), -1.0))
        g = g.view(rows, -1).index_select(1, place) * (grad / rows)
        return g.sum(0), one_hot.t() @ g, None, None, None, None, None


def gradient_penalty(disc: Discriminator, real_first: torch.Tensor, fake_first: torch.Tensor, gen: torch.Generator,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: (||grad D(x)|| - 1)^2 on points x between real and fake pac groups, one mix weight per
    group, from the groups' first layer outputs (pre-activation). That layer is affine, so its output
    at x is the same mix of the two; real and generated groups carry the same one-hots, so x does too."""
    t = torch.rand(real_first.shape[0], 1, generator=gen, device=real_first.device)
    # The gradient reaches the first layer's weights through `delta @ weight` only: delta depends on the
    # first layer's output only through leaky ReLU's slopes, which are flat. So that output is taken
    # as a constant.
    hidden = (t * real_first + (1 - t) * fake_first).detach()
    linears = [m for m in disc.seq if isinstance(m, nn.Linear)]
    return _Penalty.apply(hidden, disc, weight, disc.data_weight, disc.cond_weight if disc.cond_dim else None,
                          *(m.weight for m in linears))


class _Penalty(torch.autograd.Function):
    """The gradient penalty and its gradient for the critic's weights, written out. Through autograd it
    takes a double backward (create_graph) over the critic: some 40 small ops recorded twice, which cost
    more than the products. Here, for the critic's hidden layers z_l (z_1 = the first layer's output),
    leaky ReLU slopes s_l and dropout masks m_l, and gate_l = s_l * m_l:
        delta_L = w_out * gate_L,  delta_l = (delta_{l+1} @ W_{l+1}) * gate_l,  delta = delta_1 = dD/dz_1;
        the input gradient is [delta @ W_data^T | delta @ W_cond^T], its norm per group n;
        penalty = weight * mean((n - 1)^2).
    The gates are flat in the weights (piecewise constant), so the backward is products and sums alone."""

    @staticmethod
    def forward(ctx, hidden, disc, weight, data_weight, cond_weight, *linear_weights):
        # A hidden layer's output is dropout(leaky_relu(z)) = z * gate, so the forward needs no more than
        # the gates. The score layer does not enter delta.
        *layers, _ = disc.seq
        gates, z = [], hidden
        for module in layers:
            if isinstance(module, nn.LeakyReLU):  # its slope, as its backward takes it
                gates.append(torch.full_like(z, module.negative_slope).masked_fill_(z > 0, 1.0))
            elif isinstance(module, Dropout):
                mask = module.mask(z)
                if mask is not None:
                    gates[-1].mul_(mask)
            else:
                z = torch.nn.functional.linear(z * gates[-1], module.weight, module.bias)
        deltas = [linear_weights[-1] * gates[-1]]  # (groups, width) each, last layer first
        for w, gate in zip(reversed(linear_weights[:-1]), reversed(gates[:-1]), strict=True):
            deltas.append((deltas[-1] @ w).mul_(gate))
        deltas.reverse()
        q = deltas[0] @ data_weight.t()
        squares = q.square().sum(1)
        r = None
        if cond_weight is not None:
            r = deltas[0] @ cond_weight.t()
            squares += r.square().sum(1)
        norm = squares.sqrt()
        ctx.save_for_backward(data_weight, cond_weight, *linear_weights)
        ctx.parts = (gates, deltas, q, r, norm, weight)
        return weight * (norm - 1).square().mean()

    @staticmethod
    def backward(ctx, grad):
        data_weight, cond_weight, *linear_weights = ctx.saved_tensors
        gates, deltas, q, r, norm, weight = ctx.parts
        # d penalty / d input gradient = weight * 2 (n - 1) / groups * (input gradient / n), per group
        scale = (grad * weight * 2 / norm.shape[0]) * (norm - 1) / norm
        q = q * scale[:, None]
        grad_data = q.t() @ deltas[0]
        grad_delta = q @ data_weight
        grad_cond = None
        if cond_weight is not None:
            r = r * scale[:, None]
            grad_cond = r.t() @ deltas[0]
            grad_delta.addmm_(r, cond_weight)
        grad_linear = []
        for w, gate, delta_next in zip(linear_weights[:-1], gates[:-1], deltas[1:], strict=True):
            grad_u = grad_delta.mul_(gate)  # through delta_l = u_l * gate_l, u_l = delta_{l+1} @ W_{l+1}
            grad_linear.append(delta_next.t() @ grad_u)
            grad_delta = grad_u @ w.t()
        grad_linear.append((grad_delta * gates[-1]).sum(0, keepdim=True))
        return None, None, None, grad_data, grad_cond, *grad_linear


class BlockLayout:
    """Index tensors that view the flat one-hot part of a row as blocks, padded to a common width.

    Blocks are bucketed by width, so a 2-wide block is not padded to the width of a 40-category one.
    Each bucket is worked on transposed, as (width, blocks, batch): softmax, cumulative sums and draws
    then reduce along the first axis while the long batch axis stays contiguous."""

    def __init__(self, n_scalars: int, widths: list[int], device: torch.device):
        self.n_scalars = n_scalars
        self.n_blocks = len(widths)
        self.max_width = max(widths) if widths else 1
        self.widths = torch.tensor(widths, dtype=torch.long, device=device)
        self.width = n_scalars + sum(widths)  # of a whole row; a Python int, so no device sync to read it
        self._steps = torch.arange(self.max_width, device=device)
        starts = [n_scalars + sum(widths[:b]) for b in range(len(widths))]
        self.offsets = torch.tensor(starts, dtype=torch.long, device=device)
        # Training pads blocks into few buckets (few ops per small batch, see _padded_widths); sampling
        # buckets by exact width (no padding: more ops, each on a large batch).
        padded = _padded_widths(widths)
        groups, self.unpad = self._bucket_by(widths, starts, padded.__getitem__)
        # Sampling draws each bucket of equal-width blocks whole: the generator writes its columns in
        # `draw_rows` order (the scalars, then each bucket width-major), so a bucket is a contiguous view.
        draws, _ = self._bucket_by(widths, starts, lambda w: w)
        self.draw_rows = torch.cat([torch.arange(n_scalars, device=device)] + [g[0] for g in draws])
        self.undraw_rows = torch.argsort(self.draw_rows)
        # Each draw bucket as (its rows of the generator's output, the rows of its blocks among all blocks,
        # width, blocks); block rows as a slice where they are consecutive, so that they index by view.
        self._draw_buckets, start = [], n_scalars
        for _, _, width, blocks in draws:
            rows = slice(start, start + width * len(blocks))
            self._draw_buckets.append((rows, _as_slice(blocks), width, len(blocks)))
            start = rows.stop
        # All training buckets stacked as (rows, batch): one gather and one padding mask for all of them
        # (see _Activation), and each bucket's (width, blocks) to view its rows.
        self._bucket_gather = torch.cat([g[0] for g in groups]) if groups else self._steps[:0]
        self._pad_rows = torch.cat([g[1].reshape(-1, 1) for g in groups]) if groups else \
            torch.zeros(0, 1, dtype=torch.bool, device=device)
        self._bucket_shapes = [(width, len(blocks)) for _, _, width, blocks in groups]
        full, pad = [], []
        for b, w in enumerate(widths):
            full += [starts[b] + i if i < w else 0 for i in range(self.max_width)]
            pad += [i >= w for i in range(self.max_width)]
        self.full_gather = torch.tensor(full, dtype=torch.long, device=device)
        self.pad = torch.tensor(pad, device=device).reshape(self.n_blocks, self.max_width)
        # The chain (Generator.chain): each block's one-hot columns, from the row's start and within the one-hot
        # part; a weight may join a column only to the columns of a later block.
        self.spans = [(start, start - n_scalars, w) for start, w in zip(starts, widths, strict=True)]
        one_hot = sum(widths)
        block_of = torch.repeat_interleave(torch.arange(self.n_blocks), torch.tensor(widths, dtype=torch.long)) \
            if widths else torch.zeros(0, dtype=torch.long)
        self.chain_mask = (block_of[:, None] < block_of[None, :]).float().to(device).reshape(one_hot, one_hot)

    def _bucket_by(self, widths: list[int], starts: list[int], bucket_width):
        """Buckets of blocks, each (gather index in width-major order, (width, blocks) pad mask, width,
        blocks); and the index that puts the buckets' rows back in layout order after the scalars."""
        device = self.widths.device
        buckets: dict[int, list[int]] = {}
        for b, w in enumerate(widths):
            buckets.setdefault(bucket_width(w), []).append(b)
        groups, position, base = [], {}, self.n_scalars
        for width, blocks in sorted(buckets.items()):
            flat, pad = [], []
            for i in range(width):
                for k, b in enumerate(blocks):
                    flat.append(starts[b] + i if i < widths[b] else 0)
                    pad.append(i >= widths[b])
                    if i < widths[b]:
                        position[starts[b] + i] = base + i * len(blocks) + k
            groups.append((torch.tensor(flat, dtype=torch.long, device=device),
                           torch.tensor(pad, device=device).reshape(width, len(blocks), 1), width, blocks))
            base += len(blocks) * width
        unpad = torch.tensor(list(range(self.n_scalars)) + [position[p] for p in sorted(position)],
                             dtype=torch.long, device=device)
        return groups, unpad

    def bucket_views(self, stacked: torch.Tensor) -> Iterator[torch.Tensor]:
        """Each training bucket's rows of a stacked (rows, batch) tensor, as a (width, blocks, batch) view."""
        start = 0
        for width, blocks in self._bucket_shapes:
            yield stacked[start:start + width * blocks].view(width, blocks, -1)
            start += width * blocks

    def blocks(self, raw: torch.Tensor) -> torch.Tensor:
        """(batch, blocks, max width) logits with -inf in the padding (for the rare whole-table views)."""
        x = raw.index_select(1, self.full_gather).reshape(raw.shape[0], self.n_blocks, self.max_width)
        return x.masked_fill(self.pad, float("-inf"))

    def block_logits(self, raw: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
        """(batch, max width) logits of one block per row, -inf in the padding."""
        steps = self._steps[None, :]
        index = (self.offsets[block][:, None] + steps).clamp_(max=raw.shape[1] - 1)
        return raw.gather(1, index).masked_fill(steps >= self.widths[block][:, None], float("-inf"))

    def activate(self, raw: torch.Tensor, gen: torch.Generator, tau: float = TAU) -> torch.Tensor:
        """tanh on the scalars, Gumbel-softmax on each block; same layout as `raw`."""
        gumbel = _gumbel((self._pad_rows.shape[0], raw.shape[0]), gen, raw.device)  # a row per stacked bucket row
        return _Activation.apply(raw, gumbel, self, tau)

    def activate_chained(self, raw: torch.Tensor, gen: torch.Generator, chain: torch.Tensor,
                         given: torch.Tensor | None = None, tau: float = TAU) -> tuple[torch.Tensor, torch.Tensor]:
        """`activate` with the chain: block by block, each block's logits shifted by the chain's weights of the
        Gumbel-softmax samples of the blocks before it, and by those of each row's `given` category (its
        condition, as a one-hot column index; see `draw_chained`). Also returns the shifted logits (the scalars
        as they are), in `raw`'s layout, for the losses that read logits."""
        gumbel = _gumbel((raw.shape[0], raw.shape[1] - self.n_scalars), gen, raw.device)  # a column per one-hot
        return _ChainedActivation.apply(raw, gumbel, chain * self.chain_mask, given, self, tau)

    def draw_chained(self, logits: torch.Tensor, uniforms: torch.Tensor, chain: torch.Tensor,
                     means: torch.Tensor | None = None, given: torch.Tensor | None = None) -> np.ndarray:
        """Codes (batch, blocks) int32 drawn block by block from `logits` (width, batch), rows in the layout's
        order, each block's shifted by the chain's weights of the categories drawn before it: once a block is
        drawn, each row's weights from its category are added to the later blocks' logits. Inverse CDF with
        `uniforms` (blocks, batch), as `draw`; both are overwritten. With `means` (blocks, max width), each
        block's mean probabilities are written there (calibration matches them to the real frequencies).

        `given` (batch,): each row's condition as a one-hot column index. Its category is known before any
        draw, so the blocks before its own are shifted by its weights too, read the other way (the weight from
        an earlier category a to it is the pair's weight either way): a row conditioned on a female sex draws
        its relationship knowing that."""
        batch = logits.shape[1]
        codes = np.empty((self.n_blocks, batch), dtype=np.int32)
        cpu = logits.device.type == "cpu"
        if given is not None:
            logits[self.n_scalars:] += chain.t()[given].t()
        if cpu:  # numpy, as `draw`: the sampling threads then hold Python's lock less
            logits, uniforms, chain = logits.numpy(), uniforms.numpy(), chain.contiguous().numpy()
        for b, (start, offset, w) in enumerate(self.spans):
            x = logits[start:start + w]
            if means is not None:
                means[b, :w] = torch.softmax(torch.as_tensor(x), dim=0).mean(1)
            if cpu:
                code = _draw_numpy(x.reshape(w, 1, batch), uniforms[b:b + 1])[0]
            else:
                code = torch.from_numpy(_draw_torch(x.reshape(w, 1, batch), uniforms[b:b + 1])[0])
            codes[b] = code
            end = start + w
            if end < len(logits):
                taken = offset + code.astype(np.int64) if cpu else (offset + code.long()).to(logits.device)
                # Each row's category's weights, gathered as whole rows of the chain, then added transposed.
                rest = chain[:, end - self.n_scalars:]
                logits[end:] += (rest[taken] if cpu else rest.index_select(0, taken)).T
        return codes.T

    def draw_offset(self, logit_bias: torch.Tensor) -> torch.Tensor:
        """A bias per one-hot column, in layout order, as an offset for the generator's columns in
        `draw_rows` order (0 for the scalars): see FrozenGenerator."""
        flat = torch.cat([logit_bias.new_zeros(self.n_scalars), logit_bias])
        return flat.index_select(0, self.draw_rows)

    def decode(self, raw: torch.Tensor, uniforms: torch.Tensor, chain: torch.Tensor | None = None,
               given: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(batch, scalars) float32 tanh of the scalars, and `draw`'s codes (see there: both arguments may be
        overwritten), or with the generator's `chain` `draw_chained`'s (with `given`, see there)."""
        if raw.device.type == "cpu":  # in numpy: a torch op holds Python's lock longer (see draw)
            scalars = np.tanh(raw.numpy()[:, : self.n_scalars])
        else:
            scalars = torch.tanh(raw[:, : self.n_scalars]).cpu().numpy()
        if chain is not None:
            return scalars, self.draw_chained(raw.t().index_select(0, self.undraw_rows), uniforms, chain,
                                              given=given)
        return scalars, self.draw(raw, uniforms)

    def draw(self, raw: torch.Tensor, uniforms: torch.Tensor) -> np.ndarray:
        """(batch, blocks) int32 codes, one category per block drawn from the softmax of its logits by
        inverse CDF, with `uniforms` (blocks, batch) from [0, 1) on raw's device. `raw` has its columns in
        `draw_rows` order (FrozenGenerator), best as the transposed view the generator returns. Both may be
        overwritten: the uniforms (scaled), and on the accelerator, or on the CPU for a bucket whose exps
        leave the safe range (_draw_numpy), the logits."""
        flipped = raw.t().contiguous()  # a view of raw when it is the transposed view the generator returns
        batch = raw.shape[0]
        codes = np.empty((self.n_blocks, batch), dtype=np.int32)
        if raw.device.type == "cpu":
            # numpy views throughout: sampling threads hold Python's lock for each torch view or index, and
            # the other thread then waits for it between its numpy calls.
            logits, uniforms, kernel = flipped.numpy(), uniforms.numpy(), _draw_numpy
        else:
            logits, kernel = flipped, _draw_torch
        with torch.inference_mode():  # in place on the generator's output, an inference tensor
            for rows, blocks, width, count in self._draw_buckets:
                # Every block of a draw bucket has the bucket's width: no padding to mask.
                codes[blocks] = kernel(logits[rows].reshape(width, count, batch), uniforms[blocks])
        return codes.T

    def expand(self, scalars: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Compact rows (scalars, per-block codes) to the generator's layout, one-hot blocks."""
        n = scalars.shape[0]
        out = torch.zeros(n, self.width, device=scalars.device)
        out[:, : self.n_scalars] = scalars
        out.scatter_(1, codes.long() + self.offsets, 1.0)
        return out


def _gumbel(shape: tuple[int, int], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise, -log(-log(u)), with u kept off 0 and 1."""
    u = torch.rand(shape, generator=gen, device=device)
    return u.clamp_(1e-10, 1 - 1e-7).log_().neg_().log_().neg_()


def _draw_numpy(logits: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categories drawn from the softmax of `logits` (width, blocks, batch) by inverse CDF with the
    uniforms `u` (blocks, batch), scaled in place. numpy rather than torch on the CPU: its exp takes half
    the time, a running sum of rows a third of cumsum's, and a compare and byte sum a sixth of torch's
    (which makes a bool tensor slowly and widens it to int64 to sum it). Ufuncs are called directly, not
    through the array methods' Python wrappers.

    The exps are taken of the logits as they are, not less their maximum, which saves two passes of six: a
    trained generator's logits lie within some tens of zero. Where a row's total leaves _SAFE_TOTALS (an
    exp overflowed, or every one is too small to keep its digits), the bucket is drawn from its logits
    less their maximum instead."""
    with np.errstate(over="ignore"):  # an overflow is caught below, by the totals, and drawn again
        cdf = np.exp(logits)
        total = _running_sum(cdf)
    low, high = _SAFE_TOTALS
    if not (np.all(np.greater(total, low)) and np.all(np.less(total, high))):
        np.subtract(logits, np.maximum.reduce(logits, axis=0), out=logits)
        np.exp(logits, out=cdf)
        total = _running_sum(cdf)
    np.multiply(u, total, out=u)
    below = np.less(cdf, u).view(np.uint8)
    return np.add.reduce(below, axis=0, dtype=np.uint8 if len(below) < 256 else np.int32)


# A row's sum of exps within these is far from overflow (3.4e38), and its largest term is above 1e-23 (for
# widths up to 1,000), so a term too small for float32 to hold exactly (below 1e-38) has a share below 1e-15.
_SAFE_TOTALS = (np.float32(1e-20), np.float32(1e30))


def _running_sum(rows: np.ndarray) -> np.ndarray:
    """Cumulative sums along the first axis, in place; the last row (the totals)."""
    for previous, row in itertools.pairwise(rows):
        np.add(row, previous, out=row)
    return rows[-1]


def _draw_torch(logits: torch.Tensor, u: torch.Tensor) -> np.ndarray:
    """_draw_numpy on the accelerator."""
    cdf = logits.sub_(logits.amax(0)).exp_().cumsum_(0)
    return (cdf < u.mul_(cdf[-1])).sum(0).cpu().numpy()


def _as_slice(items: list[int]) -> slice | np.ndarray:
    """`items` as a slice when they are consecutive (indexing by a slice takes a view), else an index array."""
    if items == list(range(items[0], items[-1] + 1)):
        return slice(items[0], items[-1] + 1)
    return np.asarray(items)


def _padded_widths(widths: list[int], bucket_cost: float = BUCKET_COST) -> dict[int, int]:
    """Each block width -> the width of its training bucket. A bucket pads its blocks to its widest;
    a padded row costs work in every op, and a bucket costs its own ops (worth `bucket_cost` padded
    rows): the split of the sorted widths into buckets with the least total cost, by dynamic programming."""
    sizes = sorted(set(widths))
    count = {w: widths.count(w) for w in sizes}
    best = [0.0] + [float("inf")] * len(sizes)  # best[i]: least cost of the i narrowest widths
    cut = [0] * (len(sizes) + 1)
    for i in range(1, len(sizes) + 1):
        top = sizes[i - 1]
        for j in range(i):  # the last bucket holds sizes[j:i], padded to `top`
            cost = best[j] + bucket_cost + sum(count[w] * (top - w) for w in sizes[j:i])
            if cost < best[i]:
                best[i], cut[i] = cost, j
    padded, i = {}, len(sizes)
    while i:
        for w in sizes[cut[i]:i]:
            padded[w] = sizes[i - 1]
        i = cut[i]
    return padded


class _Activation(torch.autograd.Function):
    """BlockLayout.activate, forward and backward written out on the stacked buckets: about 50 tensor ops
    per step instead of some 150 recorded and replayed by autograd, which cost more than the arithmetic on
    batches of a few hundred rows. Works on (rows, batch), the transposed layout, so that each softmax
    reduces over the bucket's leading axis."""

    @staticmethod
    def forward(ctx, raw, gumbel, layout, tau):
        flipped = raw.t()
        x = flipped.index_select(0, layout._bucket_gather)
        x.masked_fill_(layout._pad_rows, float("-inf")).add_(gumbel).mul_(1 / tau)
        for v in layout.bucket_views(x):
            v.sub_(v.amax(0)).exp_()
            v.div_(v.sum(0))
        scalars = flipped[: layout.n_scalars].tanh()
        ctx.layout, ctx.tau = layout, tau
        ctx.save_for_backward(scalars, x)
        return torch.cat([scalars, x]).index_select(0, layout.unpad).t()

    @staticmethod
    def backward(ctx, grad):
        layout, tau = ctx.layout, ctx.tau
        scalars, soft = ctx.saved_tensors
        flipped = grad.t()
        # d softmax: s * (g - sum(g * s)), per block; padding has s = 0 and so no gradient.
        g = flipped.index_select(0, layout._bucket_gather).mul_(soft)
        for v, s in zip(layout.bucket_views(g), layout.bucket_views(soft), strict=True):
            v.addcmul_(s, v.sum(0), value=-1)
        g.mul_(1 / tau)
        g_scalars = flipped[: layout.n_scalars] * (1 - scalars.square())
        return torch.cat([g_scalars, g]).index_select(0, layout.unpad).t(), None, None, None


class _ChainedActivation(torch.autograd.Function):
    """BlockLayout.activate_chained, forward and backward written out: the blocks go one after another, and
    autograd's record of a dozen ops per block cost more than the arithmetic on small batches. Outputs the
    samples (tanh for the scalars) and the shifted logits x_b = raw_b + sum over earlier blocks i of s_i W_ib,
    plus W_bg for a row's given category g (a one-hot column of a later block, see BlockLayout.draw_chained)."""

    @staticmethod
    def forward(ctx, raw, gumbel, weight, given, layout, tau):
        n_scalars, n = layout.n_scalars, weight.shape[0]
        out, logits = torch.empty_like(raw), torch.empty_like(raw)
        # Each column's sum of s_i W_ib so far; to start, the given category's column of weights, which is zero
        # but for the blocks before the given one's.
        shift = raw.new_zeros(raw.shape[0], n) if given is None else weight.t().index_select(0, given)
        for start, offset, w in layout.spans:
            x = torch.add(raw[:, start:start + w], shift[:, offset:offset + w], out=logits[:, start:start + w])
            s = torch.softmax(x.add(gumbel[:, offset:offset + w]).mul_(1 / tau), dim=1)
            out[:, start:start + w] = s
            if offset + w < n:
                shift[:, offset + w:].addmm_(s, weight[offset:offset + w, offset + w:])
        torch.tanh(raw[:, :n_scalars], out=out[:, :n_scalars])
        logits[:, :n_scalars] = raw[:, :n_scalars]
        ctx.layout, ctx.tau = layout, tau
        ctx.save_for_backward(out, weight, given)
        return out, logits

    @staticmethod
    def backward(ctx, grad_out, grad_logits):
        layout, tau = ctx.layout, ctx.tau
        out, weight, given = ctx.saved_tensors
        n_scalars, n = layout.n_scalars, weight.shape[0]
        samples = out[:, n_scalars:]
        grad_x = torch.zeros_like(samples)  # the loss's gradient for each block's shifted logits
        for start, offset, w in reversed(layout.spans):
            g = grad_out[:, start:start + w]
            if offset + w < n:  # through the later blocks' shifts
                g = torch.addmm(g, grad_x[:, offset + w:], weight[offset:offset + w, offset + w:].t())
            s = samples[:, offset:offset + w]
            # d softmax((x + gumbel) / tau): s * (g - sum(g * s)) / tau
            gx = s * (g - (g * s).sum(1, keepdim=True)) * (1 / tau)
            if grad_logits is not None:
                gx += grad_logits[:, start:start + w]
            grad_x[:, offset:offset + w] = gx
        grad_raw = torch.cat([grad_out[:, :n_scalars] * (1 - out[:, :n_scalars].square()), grad_x], dim=1)
        if grad_logits is not None:
            grad_raw[:, :n_scalars] += grad_logits[:, :n_scalars]
        grad_weight = samples.t() @ grad_x
        if given is not None:
            grad_weight.t().index_add_(0, given, grad_x)
        return grad_raw, None, grad_weight, None, None, None
