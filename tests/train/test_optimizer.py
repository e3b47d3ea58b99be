import torch
from torch import nn

import gankit
from gankit.train.checkpoint import optimizer_tensors, restore_optimizer
from gankit.train.trainer import align_gradients, make_optimizer, same_layout

CL = torch.channels_last


def conv_weight() -> nn.Parameter:
    torch.manual_seed(0)
    return nn.Parameter(torch.randn(8, 4, 3, 3).contiguous(memory_format=CL))


def adam_steps(parameter: nn.Parameter, grads: list[torch.Tensor], fused: bool) -> torch.Tensor:
    optimizer = torch.optim.Adam([parameter], lr=0.1, fused=fused, foreach=not fused)
    for grad in grads:
        parameter.grad = grad
        align_gradients([parameter])
        optimizer.step()
    return parameter.detach().clone()


def test_same_layout_ignores_the_strides_of_size_one_dimensions():
    a = torch.randn(64, 1, 4, 4).contiguous(memory_format=CL)
    assert same_layout(a, torch.randn(64, 1, 4, 4))  # one channel: the same memory order
    b = torch.randn(8, 4, 3, 3)
    assert not same_layout(b.contiguous(memory_format=CL), b)
    assert same_layout(b, b.clone())


def test_align_gradients_gives_a_gradient_its_parameters_layout_and_values():
    parameter = conv_weight()
    grad = torch.randn(8, 4, 3, 3)  # NCHW, the parameter is channels_last
    parameter.grad = grad
    align_gradients([parameter])
    assert parameter.grad.stride() == parameter.stride()
    assert torch.equal(parameter.grad, grad)


def test_fused_adam_with_mismatched_layouts_matches_the_multi_tensor_one_once_aligned():
    grads = [torch.randn(8, 4, 3, 3), torch.randn(8, 4, 3, 3)]  # NCHW gradients
    reference = adam_steps(conv_weight(), [g.clone() for g in grads], fused=False)
    fused = adam_steps(conv_weight(), [g.clone() for g in grads], fused=True)
    torch.testing.assert_close(fused, reference)


def test_make_optimizer_uses_fused_adam_where_torch_has_it():
    config = gankit.preset("dcgan")
    optimizer = make_optimizer([conv_weight()], config, 1e-3)
    assert isinstance(optimizer, torch.optim.Adam)
    cpu_fused = torch.torch_version.TorchVersion(torch.__version__) >= "2.4"  # fused Adam on CPU
    assert bool(optimizer.param_groups[0]["fused"]) is cpu_fused
    assert bool(optimizer.param_groups[0]["foreach"]) is not cpu_fused


def test_restored_moments_take_their_parameters_layout():
    parameter = conv_weight()
    optimizer = torch.optim.Adam([parameter], lr=0.1)
    parameter.grad = torch.randn_like(parameter)
    optimizer.step()
    tensors, groups = optimizer_tensors("g", optimizer)
    fresh = conv_weight()
    restored = torch.optim.Adam([fresh], lr=0.1)
    stored = {key: value.contiguous() for key, value in tensors.items()}  # as a checkpoint has them
    restore_optimizer("g", restored, stored, groups)
    for key in ("exp_avg", "exp_avg_sq"):
        moment = restored.state[fresh][key]
        assert moment.stride() == fresh.stride(), key
        assert torch.equal(moment, optimizer.state[parameter][key]), key
