"""Exponential moving average of the generator's weights (and buffers), for sampling.

Built on torch.optim.swa_utils.AveragedModel with a warm-up on the decay,
min(decay, (1 + n) / (10 + n)), so that early in training the average follows the weights closely
instead of being dominated by the random initialisation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def make_ema(network: nn.Module, decay: float) -> AveragedModel:
    """An AveragedModel of `network` updated in place with a warmed-up EMA decay."""

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], count: Tensor | int) -> None:
        n = float(count)
        beta = min(decay, (1.0 + n) / (10.0 + n))
        float_pairs = [
            (a, c) for a, c in zip(averaged, current, strict=True) if a.is_floating_point()
        ]
        if float_pairs:
            ema_values, values = zip(*float_pairs, strict=True)
            torch._foreach_lerp_(list(ema_values), list(values), 1.0 - beta)
        for a, c in zip(averaged, current, strict=True):
            if not a.is_floating_point():  # e.g. BatchNorm's num_batches_tracked
                a.copy_(c)

    ema = AveragedModel(network, multi_avg_fn=update, use_buffers=True)
    ema.eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def with_standing_statistics(
    network: nn.Module, forward: Callable[[nn.Module, int], None], batches: int = 16
) -> nn.Module:
    """A copy of `network` whose batch-norm statistics are re-estimated by running it.

    The EMA generator's weights are an average, but its running statistics are the average of the
    raw generator's: they do not match the averaged weights. Re-estimating them on noise ("standing
    statistics", Brock et al. 2019, Sec. 3.1) fixes that; `forward(copy, i)` runs batch i in train
    mode. Networks without batch norm are returned as they are.
    """
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return network
    calibrated = copy.deepcopy(network)
    for module in calibrated.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batches
    calibrated.train()
    for index in range(batches):
        forward(calibrated, index)
    return calibrated.eval()
