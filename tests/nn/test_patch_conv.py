"""PatchConv2d / PatchConvTranspose2d compute what the plain layers compute, gradients included."""

import pytest
import torch
from torch import nn

from gankit.nn import patch_conv
from gankit.nn.patch_conv import PatchConv2d, PatchConvTranspose2d, plain_layers


def twins(plain_cls, patch_cls, *args, bias=True):
    torch.manual_seed(0)
    plain = plain_cls(*args, bias=bias)
    patch = patch_cls(*args, bias=bias)
    patch.load_state_dict(plain.state_dict())
    return plain, patch


def run(layer, inputs, grad, autocast=False):
    inputs = inputs.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = layer(inputs)
    out.backward(grad.to(out.dtype))
    return [out.float(), inputs.grad, *(p.grad for p in layer.parameters())]


def assert_close(a, b, rtol):
    scale = a.abs().max().clamp_min(1e-12)
    assert (a.float() - b.float()).abs().max() <= rtol * scale


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "geometry", [(4, 2, 1, 28), (4, 2, 1, 16), (3, 1, 1, 9), (1, 1, 0, 5), (4, 2, 0, 10)]
)
def test_one_channel_layers_match_the_plain_ones_in_fp32(geometry, channels_last):
    kernel, stride, padding, size = geometry
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for bias in (True, False):
        plain, patch = twins(nn.Conv2d, PatchConv2d, 1, 6, kernel, stride, padding, bias=bias)
        x = torch.randn(3, 1, size, size).contiguous(memory_format=fmt)
        grad = torch.randn_like(plain(x))
        for u, v in zip(run(plain, x, grad), run(patch, x, grad), strict=True):
            assert_close(u, v, 1e-5)
        plain, patch = twins(
            nn.ConvTranspose2d, PatchConvTranspose2d, 6, 1, kernel, stride, padding, bias=bias
        )
        h = torch.randn(3, 6, size, size).contiguous(memory_format=fmt)
        out = plain(h)
        grad = torch.randn_like(out)
        assert patch(h).shape == out.shape
        for u, v in zip(run(plain, h, grad), run(patch, h, grad), strict=True):
            assert_close(u, v, 1e-5)


def test_under_bf16_autocast_they_match_to_bf16_rounding_and_keep_its_dtype():
    plain, patch = twins(nn.Conv2d, PatchConv2d, 1, 64, 4, 2, 1)
    x = torch.randn(8, 1, 28, 28)
    grad = torch.randn(8, 64, 14, 14)
    (out_a, gx_a, *gw_a), (out_b, gx_b, *gw_b) = (run(m, x, grad, True) for m in (plain, patch))
    assert patch(x).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert patch(x).dtype == torch.bfloat16
        assert patch(x).is_contiguous(memory_format=torch.channels_last)
    assert_close(out_a, out_b, 1e-2)
    assert_close(gx_a, gx_b, 2e-2)
    for u, v in zip(gw_a, gw_b, strict=True):
        assert u.dtype == v.dtype == torch.float32
        assert_close(u, v, 2e-2)


def test_the_matrix_path_is_taken_only_for_one_channel_on_cpu(monkeypatch):
    calls = []
    real = patch_conv._PatchConv.apply
    monkeypatch.setattr(patch_conv._PatchConv, "apply", lambda *a: calls.append(1) or real(*a))
    PatchConv2d(1, 4, 4, 2, 1)(torch.randn(2, 1, 8, 8))
    assert calls == [1]
    PatchConv2d(3, 4, 4, 2, 1)(torch.randn(2, 3, 8, 8))  # oneDNN is faster from 3 channels
    PatchConv2d(1, 4, (4, 2), 2, 1)(torch.randn(2, 1, 8, 8))  # not square
    PatchConv2d(1, 4, 3, 1, 2, dilation=2)(torch.randn(2, 1, 8, 8))
    assert calls == [1]


def test_plain_layers_turns_them_back_into_the_nn_layers_with_the_same_weights():
    net = nn.Sequential(PatchConv2d(1, 4, 4, 2, 1), PatchConvTranspose2d(4, 1, 4, 2, 1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(2, 1, 8, 8)
    expected = net(x)
    plain_layers(net)
    assert [type(m) for m in net] == [nn.Conv2d, nn.ConvTranspose2d]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.allclose(net(x), expected, atol=1e-6)
