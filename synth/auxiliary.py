"""The target's auxiliary model (CTAB-GAN+, Zhao et al. 2022): rows whose target follows from their other columns.

When a fit names a target column, a small network learns from real rows to predict the target from the row's other
columns, and the generator is charged, beside the critic's loss, for generated rows whose target that network
would not predict from their other columns. The critic judges whole rows and can pass a row whose target is
unlikely given its features; this loss is aimed at the one relation a user of the rows for training a model needs.

A categorical target is predicted as a class (cross-entropy); a numeric one as the number the networks see for it
(its standardised value, or its normal score; squared error), read from its mixture mode and the offset within it.
A generated row's target is the label: the loss moves the row's other columns towards it, not the target towards
them (as in CTAB-GAN+). By default only a numeric target gets a model (Config.target_loss). The network sees real
rows, so it is off under differential privacy; it is not kept in the model, which samples without it.
"""

from __future__ import annotations

import torch
from torch import nn

from synth.networks import BlockLayout
from synth.transformer import DataTransformer


def target_model(transformer: DataTransformer, target: str, layout: BlockLayout, hidden: tuple[int, ...],
                 numeric_only: bool = False) -> TargetModel | None:
    """The target's model; for a column derived from another (synth.transformer.find_derived), its source's. None
    when the generator does not draw the column (an ID or a constant), or with `numeric_only` for a categorical
    one."""
    derived = {d.name: d.source for d in transformer.derived}
    while target in derived:
        target = derived[target]
    block = transformer.block_of(target)
    if block is None or (numeric_only and transformer.blocks[block][0] != "continuous"):
        return None
    return TargetModel(transformer, block, layout, hidden)


class TargetModel(nn.Module):
    def __init__(self, transformer: DataTransformer, block: int, layout: BlockLayout, hidden: tuple[int, ...]):
        super().__init__()
        kind, i = transformer.blocks[block]
        start, _, width = layout.spans[block]
        self.block = slice(start, start + width)
        mask = torch.ones(layout.width)
        mask[self.block] = 0.0
        if kind == "continuous":
            self.scalar = i
            mask[i] = 0.0
            mix = transformer.continuous[i].mixture
            means, scales = torch.zeros(width), torch.zeros(width)  # a null mode, if any, reads as the mean: 0
            means[:len(mix.means)] = torch.as_tensor(mix.means, dtype=torch.float32)
            scales[:len(mix.stds)] = 4 * torch.as_tensor(mix.stds, dtype=torch.float32)
            self.register_buffer("means", means)
            self.register_buffer("scales", scales)
            out = 1
        else:
            self.scalar = None
            out = width
        self.register_buffer("mask", mask)
        layers, size = [], layout.width
        for h in hidden:
            layers += [nn.Linear(size, h), nn.LeakyReLU(0.2)]
            size = h
        layers.append(nn.Linear(size, out))
        self.seq = nn.Sequential(*layers)

    def label(self, rows: torch.Tensor) -> torch.Tensor:
        """Each row's target: its class, or its standardised value (from the mode's probabilities and the offset)."""
        modes = rows[:, self.block]
        if self.scalar is None:
            return modes.argmax(1)
        return modes @ self.means + rows[:, self.scalar] * (modes @ self.scales)

    def loss(self, rows: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """How far the prediction from each row's other columns is from `label`, averaged over the rows."""
        predicted = self.seq(rows * self.mask)
        if self.scalar is None:
            return nn.functional.cross_entropy(predicted, label)
        return nn.functional.mse_loss(predicted[:, 0], label)
