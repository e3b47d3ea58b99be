"""Convolutions with a one-channel image on one side, computed on CPU as matrix products.

A DCGAN discriminator on grayscale data (Fashion-MNIST, MNIST, Quick Draw) opens with a
convolution from one channel, and its generator ends with a transposed convolution to one. oneDNN
runs these far below the rate it reaches on the wide layers. Written as im2col (`patches`: a
strided view and one copy), one GEMM and col2im (`F.fold`), forward and backward together took,
for a batch of 128 28 x 28 images and 64 channels in bf16 on 2 cores: the first layer 3.2 ms
instead of 9.1 (when its input gradient is needed too), the last one 2.5 ms instead of 4.5. With
2 channels the two ways tie, from 3 on oneDNN is faster (3 channels at 64 x 64: 11.8 against
25.8 ms), so only one-channel layers take this path. In the whole DCGAN training step the gain is
1.5-2 ms of about 75 (2-3%, measured by switching the two layers between the ways on alternate
steps of one trainer, 600 steps each). Kernel times: ad-hoc scripts over these shapes, timed in
alternation.

The layers are `nn.Conv2d` / `nn.ConvTranspose2d` subclasses with the same parameters, so
checkpoints, initialisation and the function computed are exactly those of the plain layers.
CUDA, torch.compile, more channels and geometries other than square kernels without dilation or
groups take the plain path; so does a backward that builds a graph (a gradient penalty's),
through the plain operations, so that it can be differentiated again.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def compute_dtype(tensor: Tensor) -> torch.dtype:
    """The dtype autocast gives a convolution here (the tensor's own when autocast is off)."""
    if torch.is_autocast_enabled(tensor.device.type):
        return torch.get_autocast_dtype(tensor.device.type)
    return tensor.dtype


def patches(images: Tensor, kernel: int, stride: int, padding: int) -> Tensor:
    """im2col: (B, C, H, W) -> (B * Ho * Wo, C * k * k), rows in (B, Ho, Wo) order and columns in
    a conv weight's (C, kh, kw) order: `patches @ weight.view(out, -1).T` is the convolution."""
    padded = F.pad(images, (padding,) * 4).contiguous()
    batch, channels, height, width = padded.shape
    out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    s_b, s_c, s_h, s_w = padded.stride()
    view = padded.as_strided(
        (batch, out_h, out_w, channels, kernel, kernel),
        (s_b, stride * s_h, stride * s_w, s_c, s_h, s_w),
    )
    return view.reshape(batch * out_h * out_w, channels * kernel * kernel)


def unpatch(
    columns: Tensor, batch: int, size: tuple[int, int], kernel: int, stride: int, padding: int
) -> Tensor:
    """col2im, the adjoint of `patches`: (B * L, C * k * k) -> (B, C, H, W), overlapping values
    summed in fp32 (up to (k / stride)^2 of them meet in a pixel; bf16 sums would round each)."""
    columns = columns.float().view(batch, -1, columns.shape[1]).transpose(1, 2)
    return F.fold(columns, size, kernel, padding=padding, stride=stride)


def nhwc_rows(tensor: Tensor) -> Tensor:
    """(B, C, H, W) -> (B * H * W, C); a view for a channels_last tensor."""
    return tensor.permute(0, 2, 3, 1).reshape(-1, tensor.shape[1])


def graph_gradients(ctx: Any, grad: Tensor, op: Any) -> tuple:
    """The gradients as differentiable functions of the saved inputs (for create_graph): the
    plain operation `op(inputs, weight, bias)` (a convolution with the layer's geometry) run
    again on them with autocast's casts (to `ctx.dtype`) and differentiated by autograd. For a
    Function whose inputs are (inputs, weight, bias, geometry) and saved tensors start with the
    first three."""
    inputs, weight, bias = ctx.saved_tensors[:3]
    needed = ctx.needs_input_grad[:3]
    wanted = [t for t, need in zip((inputs, weight, bias), needed, strict=True) if need]
    dtype = ctx.dtype
    with torch.enable_grad():
        cast_bias = None if bias is None else bias.to(dtype)
        out = op(inputs.to(dtype), weight.to(dtype), cast_bias)
    found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True))
    return (*(next(found) if need else None for need in needed), None)


def _operands(inputs: Tensor, weight: Tensor) -> tuple[torch.dtype, Tensor]:
    """The compute dtype and the weight in it as a (weight.shape[0], rest) matrix."""
    dtype = compute_dtype(inputs)
    return dtype, weight.to(dtype).view(weight.shape[0], -1)


class _PatchConv(torch.autograd.Function):
    """y = conv2d(x, w, b) as patches(x) @ w^T; dx = unpatch(dy @ w), dw = dy^T @ patches(x)."""

    @staticmethod
    def forward(
        ctx: Any, images: Tensor, weight: Tensor, bias: Tensor | None, geometry: tuple
    ) -> Tensor:
        kernel, stride, padding = geometry
        dtype, matrix = _operands(images, weight)
        columns = patches(images.to(dtype), kernel, stride, padding)
        batch, _, height, width = images.shape
        out_h = (height + 2 * padding - kernel) // stride + 1
        out_w = (width + 2 * padding - kernel) // stride + 1
        # Written straight into an NHWC tensor (a view returned from a Function could not be
        # modified in place, and the LeakyReLU after this layer is in place).
        out = torch.empty(
            (batch, matrix.shape[0], out_h, out_w), dtype=dtype, memory_format=torch.channels_last
        )
        if bias is None:
            torch.mm(columns, matrix.T, out=nhwc_rows(out))
        else:
            torch.addmm(bias.to(dtype), columns, matrix.T, out=nhwc_rows(out))
        ctx.save_for_backward(images, weight, bias, columns, matrix)
        ctx.geometry, ctx.dtype = geometry, dtype
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        if torch.is_grad_enabled():
            _, stride, padding = ctx.geometry
            return graph_gradients(ctx, grad, partial(F.conv2d, stride=stride, padding=padding))
        images, weight, bias, columns, matrix = ctx.saved_tensors
        rows = nhwc_rows(grad).to(matrix.dtype)
        grad_images = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_images = unpatch(rows @ matrix, len(images), images.shape[2:], *ctx.geometry)
            grad_images = grad_images.to(images.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = (rows.T @ columns).view(weight.shape).to(weight.dtype)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0).to(bias.dtype)
        return grad_images, grad_weight, grad_bias, None


class _PatchConvTranspose(torch.autograd.Function):
    """y = conv_transpose2d(x, w, b) as unpatch(x @ w); dx = patches(dy) @ w^T,
    dw = x^T @ patches(dy)."""

    @staticmethod
    def forward(
        ctx: Any, inputs: Tensor, weight: Tensor, bias: Tensor | None, geometry: tuple
    ) -> Tensor:
        kernel, stride, padding = geometry
        dtype, matrix = _operands(inputs, weight)  # matrix: (C_in, C_out * k * k)
        batch, _, height, width = inputs.shape
        rows = nhwc_rows(inputs).to(dtype)
        size = (
            (height - 1) * stride - 2 * padding + kernel,
            (width - 1) * stride - 2 * padding + kernel,
        )
        out = unpatch(rows @ matrix, batch, size, kernel, stride, padding)
        if bias is not None:
            out = out + bias.view(1, -1, 1, 1)
        ctx.save_for_backward(inputs, weight, bias, rows, matrix)
        ctx.geometry, ctx.dtype = geometry, dtype
        return out.to(dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple:
        if torch.is_grad_enabled():
            _, stride, padding = ctx.geometry
            op = partial(F.conv_transpose2d, stride=stride, padding=padding)
            return graph_gradients(ctx, grad, op)
        inputs, weight, bias, rows, matrix = ctx.saved_tensors
        grad_columns = patches(grad.to(matrix.dtype), *ctx.geometry)
        grad_inputs = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            batch, _, height, width = inputs.shape
            grad_rows = grad_columns @ matrix.T  # (B * H * W, C_in): NHWC, as the input came
            grad_inputs = grad_rows.view(batch, height, width, -1).permute(0, 3, 1, 2)
            grad_inputs = grad_inputs.to(inputs.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = (rows.T @ grad_columns).view(weight.shape).to(weight.dtype)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 2, 3), dtype=torch.float32).to(bias.dtype)
        return grad_inputs, grad_weight, grad_bias, None


def _patch_path(layer: nn.Conv2d | nn.ConvTranspose2d, inputs: Tensor, image_channels: int) -> bool:
    """Whether `layer` runs as matrix products here: a one-channel image side, on CPU, eager, a
    plain square geometry."""
    return (
        image_channels == 1
        and inputs.device.type == "cpu"
        and inputs.dim() == 4
        and not torch.compiler.is_compiling()
        and layer.groups == 1
        and layer.dilation == (1, 1)
        and layer.padding_mode == "zeros"
        and not isinstance(layer.padding, str)
        and len(set(layer.kernel_size)) == len(set(layer.stride)) == len(set(layer.padding)) == 1
    )


def _geometry(layer: nn.Conv2d | nn.ConvTranspose2d) -> tuple[int, int, int]:
    return layer.kernel_size[0], layer.stride[0], layer.padding[0]


class PatchConv2d(nn.Conv2d):
    """nn.Conv2d that runs as im2col and one GEMM on CPU when its input has one channel."""

    plain_type = nn.Conv2d

    def forward(self, images: Tensor) -> Tensor:
        if not _patch_path(self, images, self.in_channels):
            return super().forward(images)
        return _PatchConv.apply(images, self.weight, self.bias, _geometry(self))


class PatchConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d that runs as one GEMM and col2im on CPU when its output has one
    channel."""

    plain_type = nn.ConvTranspose2d

    def forward(self, inputs: Tensor, output_size: list[int] | None = None) -> Tensor:
        plain = output_size is not None or any(self.output_padding)
        if plain or not _patch_path(self, inputs, self.out_channels):
            return super().forward(inputs, output_size)
        return _PatchConvTranspose.apply(inputs, self.weight, self.bias, _geometry(self))


def plain_layers(module: nn.Module) -> nn.Module:
    """`module`, changed in place: gankit's CPU-tuned layers (these Patch layers, the GroupGrad
    layers of gankit.nn.group_grad: any class with a `plain_type`) become the plain nn layers
    they subclass (same parameters); for the plain PyTorch loop in bench/, which must not use
    them."""
    for layer in module.modules():
        plain = getattr(type(layer), "plain_type", None)
        if plain is not None:
            layer.__class__ = plain
    return module
