"""Convolutions whose weight gradient runs on CPU as a two-group convolution over the batch.

On two CPU threads, oneDNN's weight-gradient kernel for DCGAN's wide layers (64 <-> 128 channels,
4 x 4, stride 2, bf16, NHWC) gets far less out of the second core than its forward and
input-gradient kernels: one thread took 10.9 ms for a batch of 128, two threads 6.9 (1.6x),
where the forward went from 7.3 to 3.7 ms (2x). The same gradient written as a grouped
convolution, the batch's two halves side by side as the two groups of one convolution (a copy
of the weight for each) and the two groups' gradients summed, lets each thread work on its own
half: 12.1 ms instead of 13.4 for D's 256-image real+fake batch, 6.2 instead of 6.7 for G's
transposed layer at 128 (the two copies included; an ad-hoc script timing the kernels in
alternation). Inside the dcgan training step, switching between the two ways on alternate steps
of one trainer: -12.3 ms of 92 (batch 128, 300 steps; a first prototype gave -3.2 ms of 71 and
-7.3 ms of 89 in other VM phases). Four groups tie with
two, eight are slower, and split halves on two single-threaded Python workers were slower in the
step (the idle OpenMP team spins), so: two groups, on exactly two threads (the only case
measured); other thread counts, CUDA, torch.compile and non-plain geometries take the plain
path, as does a backward that builds a graph (a gradient penalty's).

The layers are `nn.Conv2d` / `nn.ConvTranspose2d` subclasses with the same parameters, so
checkpoints, initialisation and the function computed are those of the plain layers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gankit.nn.patch_conv import compute_dtype, graph_gradients

Geometry = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bool, tuple[int, ...]]


def weight_grad_groups(batch: int) -> int:
    """Groups the weight gradient of a batch is computed in: 2 on two intra-op threads when the
    batch halves evenly, else 1 (one plain oneDNN call)."""
    return 2 if torch.get_num_threads() == 2 and batch >= 2 and batch % 2 == 0 else 1


def grouped_weight_grad(
    grad: Tensor, inputs: Tensor, weight: Tensor, geometry: Geometry, groups: int
) -> Tensor:
    """The weight gradient of `convolution(inputs, weight)` for the output gradient `grad`,
    computed as that of a `groups`-group convolution whose groups are slices of the batch."""
    stride, padding, dilation, transposed, output_padding = geometry
    size = len(inputs) // groups

    def side_by_side(tensor: Tensor) -> Tensor:  # (B, C, H, W) -> (B / g, g * C, H, W)
        return torch.cat(tensor.split(size), dim=1)

    grads = torch.ops.aten.convolution_backward(
        side_by_side(grad),
        side_by_side(inputs),
        torch.cat([weight] * groups),
        None,
        stride,
        padding,
        dilation,
        transposed,
        output_padding,
        groups,
        [False, True, False],
    )[1]
    return grads.view(groups, *weight.shape).sum(0)


class _GroupGradConv(torch.autograd.Function):
    """A convolution (transposed or not) whose weight gradient is `grouped_weight_grad`."""

    @staticmethod
    def forward(
        ctx: Any, inputs: Tensor, weight: Tensor, bias: Tensor | None, geometry: Geometry
    ) -> Tensor:
        dtype = compute_dtype(inputs)  # what autocast would run the convolution in
        cast_bias = None if bias is None else bias.to(dtype)
        out = torch.ops.aten.convolution(
            inputs.to(dtype), weight.to(dtype), cast_bias, *geometry, 1
        )
        ctx.save_for_backward(inputs, weight, bias)
        ctx.geometry, ctx.dtype = geometry, dtype
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        geometry = ctx.geometry
        if torch.is_grad_enabled():
            return graph_gradients(
                ctx, grad, lambda x, w, b: torch.ops.aten.convolution(x, w, b, *geometry, 1)
            )
        inputs, weight, bias = ctx.saved_tensors
        need_inputs, need_weight, need_bias = ctx.needs_input_grad[:3]
        x, w, grad = inputs.to(ctx.dtype), weight.to(ctx.dtype), grad.to(ctx.dtype)
        groups = weight_grad_groups(len(x)) if need_weight else 1
        mask = [need_inputs, need_weight and groups == 1, need_bias]
        grad_x = grad_w = grad_b = None
        if any(mask):  # the rest of the gradients in oneDNN's one call
            bias_sizes = None if bias is None else list(bias.shape)
            grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad, x, w, bias_sizes, *geometry, 1, mask
            )
        if need_weight and groups > 1:
            grad_w = grouped_weight_grad(grad, x, w, geometry, groups)
        return (
            None if grad_x is None else grad_x.to(inputs.dtype),
            None if grad_w is None else grad_w.to(weight.dtype),
            None if grad_b is None else grad_b.to(bias.dtype),
            None,
        )


def _fast_path(layer: nn.Conv2d | nn.ConvTranspose2d, inputs: Tensor) -> bool:
    """Whether `layer` takes the grouped weight gradient here: a weight gradient to compute, on
    CPU, eager, one group, zero padding given as numbers."""
    return (
        layer.weight.requires_grad
        and torch.is_grad_enabled()
        and inputs.device.type == "cpu"
        and inputs.dim() == 4
        and not torch.compiler.is_compiling()
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and not isinstance(layer.padding, str)
    )


class GroupGradConv2d(nn.Conv2d):
    """nn.Conv2d whose weight gradient is a two-group convolution over the batch on 2 CPU
    threads."""

    plain_type = nn.Conv2d

    def forward(self, inputs: Tensor) -> Tensor:
        if not _fast_path(self, inputs):
            return super().forward(inputs)
        geometry = (self.stride, self.padding, self.dilation, False, (0, 0))
        return _GroupGradConv.apply(inputs, self.weight, self.bias, geometry)


class GroupGradConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose weight gradient is a two-group convolution over the batch on 2
    CPU threads."""

    plain_type = nn.ConvTranspose2d

    def forward(self, inputs: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or not _fast_path(self, inputs):
            return super().forward(inputs, output_size)
        geometry = (self.stride, self.padding, self.dilation, True, self.output_padding)
        return _GroupGradConv.apply(inputs, self.weight, self.bias, geometry)
