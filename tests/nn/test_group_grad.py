"""GroupGradConv2d / GroupGradConvTranspose2d compute what the plain layers compute, gradients
included, and take the grouped weight gradient where they should."""

import copy

import pytest
import torch
from conftest import penalty_gradients
from torch import nn

from gankit.nn import group_grad
from gankit.nn.group_grad import GroupGradConv2d, GroupGradConvTranspose2d, weight_grad_groups
from gankit.nn.patch_conv import PatchConv2d, PatchConvTranspose2d, plain_layers

# (fast class, plain class, in channels, out channels, input size)
LAYERS = [
    (GroupGradConv2d, nn.Conv2d, 6, 8, 14),
    (GroupGradConvTranspose2d, nn.ConvTranspose2d, 8, 6, 7),
]


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def grouped_calls(monkeypatch):
    calls = []
    real = group_grad.grouped_weight_grad

    def counted(*args):
        calls.append(args[4])  # the number of groups
        return real(*args)

    monkeypatch.setattr(group_grad, "grouped_weight_grad", counted)
    return calls


def twins(fast_cls, plain_cls, cin, cout, bias=True, channels_last=False):
    torch.manual_seed(0)
    plain, fast = plain_cls(cin, cout, 4, 2, 1, bias=bias), fast_cls(cin, cout, 4, 2, 1, bias=bias)
    fast.load_state_dict(plain.state_dict())
    if channels_last:
        plain.to(memory_format=torch.channels_last)
        fast.to(memory_format=torch.channels_last)
    return plain, fast


def run(layer, inputs, autocast=False):
    layer.zero_grad()
    inputs = inputs.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = layer(inputs)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.dtype)
    out.backward(grad)
    return [out, inputs.grad, *(p.grad for p in layer.parameters())]


def assert_close(a, b, rtol):
    scale = a.float().abs().max().clamp_min(1e-12)
    assert (a.float() - b.float()).abs().max() <= rtol * scale


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("layers", LAYERS)
def test_they_match_the_plain_layers_in_fp32_with_the_grouped_weight_gradient(
    layers, channels_last, two_threads, grouped_calls
):
    fast_cls, plain_cls, cin, cout, size = layers
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for bias in (True, False):
        plain, fast = twins(fast_cls, plain_cls, cin, cout, bias, channels_last)
        x = torch.randn(6, cin, size, size).contiguous(memory_format=fmt)
        for u, v in zip(run(plain, x), run(fast, x), strict=True):
            assert v.dtype == u.dtype and v.shape == u.shape
            assert_close(u, v, 1e-5)
        assert fast.weight.grad.stride() == fast.weight.stride()
    assert grouped_calls == [2, 2]


@pytest.mark.parametrize("layers", LAYERS)
def test_under_bf16_autocast_they_match_to_bf16_rounding(layers, two_threads, grouped_calls):
    fast_cls, plain_cls, cin, cout, size = layers
    plain, fast = twins(fast_cls, plain_cls, cin, cout, channels_last=True)
    x = torch.randn(8, cin, size, size).contiguous(memory_format=torch.channels_last)
    (out_a, gx_a, *gw_a), (out_b, gx_b, *gw_b) = run(plain, x, True), run(fast, x, True)
    assert out_b.dtype == torch.bfloat16 and gx_b.dtype == torch.float32
    assert out_b.is_contiguous(memory_format=torch.channels_last)
    assert_close(out_a, out_b, 1e-2)
    assert_close(gx_a, gx_b, 1e-2)
    for u, v in zip(gw_a, gw_b, strict=True):
        assert v.dtype == torch.float32
        assert_close(u, v, 2e-2)  # each group's sum is rounded to bf16 once more
    assert grouped_calls == [2]


def test_a_gradient_penalty_differentiates_through_gankits_cpu_layers_as_through_plain_ones(
    two_threads,
):
    """The Patch layers (one channel) and the GroupGrad layers (wide) in one G and one critic,
    against the same nets after `plain_layers`: a double backward through every custom path."""
    torch.manual_seed(1)
    generator = nn.Sequential(
        GroupGradConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(), PatchConvTranspose2d(4, 1, 4, 2, 1)
    )
    critic = nn.Sequential(
        PatchConv2d(1, 4, 4, 2, 1),
        nn.LeakyReLU(0.2),
        GroupGradConv2d(4, 8, 4, 2, 1),
        nn.Flatten(),
        nn.Linear(392, 1),
    )
    plain_nets = [plain_layers(copy.deepcopy(net)) for net in (generator, critic)]
    noise = torch.randn(4, 8, 7, 7)
    fast = penalty_gradients(generator, critic, noise)
    plain = penalty_gradients(*plain_nets, noise)
    for u, v in zip(plain, fast, strict=True):
        assert v is not None
        assert_close(u, v, 1e-5)


def test_the_grouped_gradient_is_used_for_even_batches_on_two_threads_only(two_threads):
    assert [weight_grad_groups(n) for n in (1, 2, 7, 128)] == [1, 2, 1, 2]
    torch.set_num_threads(1)
    assert weight_grad_groups(128) == 1


def test_odd_batches_and_frozen_weights_take_one_plain_call(two_threads, grouped_calls):
    plain, fast = twins(GroupGradConv2d, nn.Conv2d, 6, 8)
    x = torch.randn(5, 6, 14, 14)
    for u, v in zip(run(plain, x), run(fast, x), strict=True):
        assert_close(u, v, 1e-5)
    fast.requires_grad_(False)
    plain.requires_grad_(False)
    x = x.requires_grad_(True)
    (grad_fast,) = torch.autograd.grad(fast(x).sum(), x)
    (grad_plain,) = torch.autograd.grad(plain(x).sum(), x)
    assert_close(grad_plain, grad_fast, 1e-5)
    assert grouped_calls == []


def test_plain_layers_turns_them_back_into_the_nn_layers_with_the_same_weights():
    net = nn.Sequential(GroupGradConv2d(2, 4, 4, 2, 1), GroupGradConvTranspose2d(4, 2, 4, 2, 1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    plain_layers(net)
    assert [type(m) for m in net] == [nn.Conv2d, nn.ConvTranspose2d]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
