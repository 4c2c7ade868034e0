"""The two networks of CTGAN and the output activation, each a few lines.

Generator: residual blocks (linear, batch norm, ReLU, concatenated with their input) then a linear layer.
Discriminator: PacGAN, `pac` rows judged together, leaky ReLU and dropout, one score (WGAN critic).
The activation turns raw generator output into data: tanh for the scalars and Gumbel-softmax for every
one-hot block at once, through one padded (batch, blocks, max width) view instead of a loop over columns.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int):
        super().__init__()
        layers, dim = [], in_dim
        for h in hidden:
            layers.append(Residual(dim, h))
            dim += h
        layers.append(nn.Linear(dim, out_dim))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class FrozenGenerator:
    """A trained generator prepared for sampling: batch norm folded into its linear layer, and each
    concatenation [h; x] replaced by split weights (W [h; x] = W_h h + W_x x), in `dtype`. The same
    function as `Generator.eval()`, without the copies that the concatenations make."""

    def __init__(self, generator: Generator, dtype: torch.dtype):
        self.dtype = dtype
        *residuals, last = generator.seq
        sizes = [residuals[0].fc.in_features] if residuals else [last.in_features]
        self.layers = []  # (weights per input part, newest part first, each (in, out); bias)
        with torch.no_grad():
            for block in residuals:
                bn = block.bn
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                weight = block.fc.weight * scale[:, None]
                bias = (block.fc.bias - bn.running_mean) * scale + bn.bias
                self.layers.append(self._split(weight, bias, sizes))
                sizes = [block.fc.out_features] + sizes
            # The last layer is kept as (out, in): it writes its output transposed, see __call__.
            weights, bias = self._split(last.weight, last.bias, sizes)
            self.head = [w.t().contiguous() for w in weights], bias[:, None]

    def _split(self, weight: torch.Tensor, bias: torch.Tensor, sizes: list[int]):
        parts = torch.split(weight, sizes, dim=1)
        return [p.t().contiguous().to(self.dtype) for p in parts], bias.detach().to(self.dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, out) float32, as a transposed view of a contiguous (out, batch) tensor: decoding
        works along the batch axis, and this way it needs no copy to get there."""
        parts = [x.to(self.dtype)]
        for weights, bias in self.layers:
            parts.insert(0, self._linear(parts, weights, bias).relu_())
        weights, bias = self.head
        out = torch.addmm(bias, weights[0], parts[0].t())
        for part, weight in zip(parts[1:], weights[1:], strict=True):
            out.addmm_(weight, part.t())
        return out.float().t()

    @staticmethod
    def _linear(parts, weights, bias) -> torch.Tensor:
        out = torch.addmm(bias, parts[0], weights[0])
        for part, weight in zip(parts[1:], weights[1:], strict=True):
            out.addmm_(part, weight)
        return out


class Discriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        layers, dim = [], in_dim * pac
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, x.shape[1] * self.pac))


def gradient_penalty(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: (||grad D(x)|| - 1)^2 on points between real and fake, one mix weight per pac group."""
    groups = real.shape[0] // disc.pac
    t = torch.rand(groups, 1, 1, generator=gen, device=real.device)
    t = t.expand(groups, disc.pac, real.shape[1]).reshape(-1, real.shape[1])
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    score = disc(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norm = grad.reshape(groups, -1).norm(2, dim=1)
    return weight * ((norm - 1) ** 2).mean()


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
        starts = [n_scalars + sum(widths[:b]) for b in range(len(widths))]
        self.offsets = torch.tensor(starts, dtype=torch.long, device=device)
        # Training buckets by the next power of two (few buckets: few ops per small batch); sampling by
        # exact width (no padding: more ops, each on a large batch).
        self.groups, self.unpad, _ = self._bucket_by(widths, starts, lambda w: 1 << (w - 1).bit_length())
        self.draw_groups, _, self.draw_order = self._bucket_by(widths, starts, lambda w: w)
        full, pad = [], []
        for b, w in enumerate(widths):
            full += [starts[b] + i if i < w else 0 for i in range(self.max_width)]
            pad += [i >= w for i in range(self.max_width)]
        self.full_gather = torch.tensor(full, dtype=torch.long, device=device)
        self.pad = torch.tensor(pad, device=device).reshape(self.n_blocks, self.max_width)

    def _bucket_by(self, widths: list[int], starts: list[int], bucket_width):
        """Buckets of blocks, each (gather index in width-major order, (width, blocks) pad mask, width,
        blocks); the index that puts the buckets' rows back in layout order after the scalars; the one
        that puts their codes back in block order."""
        device = self.widths.device
        buckets: dict[int, list[int]] = {}
        for b, w in enumerate(widths):
            buckets.setdefault(bucket_width(w), []).append(b)
        groups, position, order, base = [], {}, [], self.n_scalars
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
            order += blocks
            base += len(blocks) * width
        unpad = torch.tensor(list(range(self.n_scalars)) + [position[p] for p in sorted(position)],
                             dtype=torch.long, device=device)
        block_order = torch.tensor([order.index(b) for b in range(len(widths))], dtype=torch.long, device=device)
        return groups, unpad, block_order

    def _bucket(self, flipped: torch.Tensor, group) -> torch.Tensor:
        """(width, blocks, batch) logits of one bucket from the transposed output, -inf in the padding."""
        gather, pad, width, blocks = group
        x = flipped.index_select(0, gather).reshape(width, len(blocks), flipped.shape[1])
        return x.masked_fill(pad, float("-inf"))

    def blocks(self, raw: torch.Tensor) -> torch.Tensor:
        """(batch, blocks, max width) logits with -inf in the padding (for the rare whole-table views)."""
        x = raw.index_select(1, self.full_gather).reshape(raw.shape[0], self.n_blocks, self.max_width)
        return x.masked_fill(self.pad, float("-inf"))

    def block_logits(self, raw: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
        """(batch, max width) logits of one block per row, -inf in the padding."""
        steps = torch.arange(self.max_width, device=raw.device)
        index = (self.offsets[block][:, None] + steps[None, :]).clamp_(max=raw.shape[1] - 1)
        return raw.gather(1, index).masked_fill(steps[None, :] >= self.widths[block][:, None], float("-inf"))

    def activate(self, raw: torch.Tensor, gen: torch.Generator, tau: float = 0.2) -> torch.Tensor:
        """tanh on the scalars, Gumbel-softmax on each block; same layout as `raw`."""
        flipped = raw.t()
        parts = [torch.tanh(flipped[: self.n_scalars])]
        for group in self.groups:
            logits = self._bucket(flipped, group)
            u = torch.rand(logits.shape, generator=gen, device=raw.device).clamp_(1e-10, 1 - 1e-7)
            soft = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=0)
            parts.append(soft.reshape(-1, raw.shape[0]))
        return torch.cat(parts, dim=0).index_select(0, self.unpad).t()

    def draw(self, raw: torch.Tensor, gen: torch.Generator, bias: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, blocks) codes, one category per block drawn from softmax(logits + bias) by inverse CDF
        (one uniform per block). `bias` is (blocks, max width)."""
        flipped = raw.t().contiguous()  # free when raw is already a transposed view (FrozenGenerator)
        codes = []
        for group in self.draw_groups:
            _, _, width, blocks = group
            x = self._bucket(flipped, group)
            if bias is not None:
                x = x + bias[blocks, :width].t().unsqueeze(2)
            cdf = (x - x.amax(0)).exp_().cumsum_(0)
            u = torch.rand(len(blocks), raw.shape[0], generator=gen, device=raw.device) * cdf[-1]
            code = (cdf < u).sum(0, dtype=torch.long)
            codes.append(torch.minimum(code, self.widths[blocks][:, None] - 1).t())
        return torch.cat(codes, dim=1).index_select(1, self.draw_order)

    def expand(self, scalars: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Compact rows (scalars, per-block codes) to the generator's layout, one-hot blocks."""
        n = scalars.shape[0]
        out = torch.zeros(n, self.n_scalars + int(self.widths.sum()), device=scalars.device)
        out[:, : self.n_scalars] = scalars
        out.scatter_(1, codes.long() + self.offsets, 1.0)
        return out
