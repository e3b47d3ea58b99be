import math

import pytest
import torch

from gankit import losses
from gankit.errors import GankitError


def test_logistic_losses_match_their_formulas():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_of = torch.sigmoid
    expected_d = -(torch.log(d_of(real)).mean() + torch.log(1 - d_of(fake)).mean())
    minimax, non_saturating = torch.log(1 - d_of(fake)).mean(), -torch.log(d_of(fake)).mean()
    assert losses.d_logistic(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert losses.g_minimax(fake).item() == pytest.approx(minimax.item(), rel=1e-6)
    assert losses.g_non_saturating(fake).item() == pytest.approx(non_saturating.item(), rel=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
    # D confidently rejects the fakes (logit -10): the minimax gradient vanishes (paper, Sec. 3)
    fake = torch.tensor([-10.0], requires_grad=True)
    (grad_minimax,) = torch.autograd.grad(losses.g_minimax(fake), fake)
    (grad_ns,) = torch.autograd.grad(losses.g_non_saturating(fake), fake)
    assert abs(grad_minimax.item()) < 1e-4 < abs(grad_ns.item())


def test_least_squares_wasserstein_hinge_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert losses.d_least_squares(real, fake).item() == pytest.approx(0.5 * (2.0 + 2.0))
    assert losses.g_least_squares(fake).item() == pytest.approx(0.5 * (1 + 9) / 2)
    assert losses.d_wasserstein(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert losses.g_wasserstein(fake).item() == pytest.approx(1.0)
    assert losses.d_hinge(real, fake).item() == pytest.approx(0.0 + 0.5)


def test_gradient_penalty_known_answer():
    # f(x) = w . x has gradient w everywhere: the penalty is (|w| - 1)^2
    weight = torch.tensor([3.0, 4.0])
    penalty = losses.gradient_penalty(
        lambda x: x.flatten(1) @ weight, torch.randn(8, 2), torch.randn(8, 2)
    )
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_trains_the_critic():
    weight = torch.tensor([3.0, 4.0], requires_grad=True)
    penalty = losses.gradient_penalty(lambda x: x @ weight, torch.randn(4, 2), torch.randn(4, 2))
    penalty.backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(weight.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5, rtol=1e-5)


def test_r1_penalty_known_answer():
    real = torch.randn(5, 3, requires_grad=True)
    logits = (real * 2).sum(1)
    assert losses.r1_penalty(logits, real).item() == pytest.approx(3 * 4.0)


def test_table_lookup_and_unknown_name():
    assert losses.ADVERSARIAL.get("hinge").discriminator is losses.d_hinge
    with pytest.raises(GankitError, match="known: hinge, least_squares, minimax"):
        losses.ADVERSARIAL.get("nope")
    assert not math.isnan(losses.l1(torch.ones(2), torch.zeros(2)).item())
