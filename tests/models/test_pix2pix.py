"""pix2pix: the U-Net, the PatchGAN, the losses of Eq. 4, directions and the presets."""

import dataclasses

import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.losses import d_logistic, g_non_saturating
from gankit.models.pix2pix import Pix2Pix
from gankit.nn.patchgan import PatchDiscriminator, patch_size
from gankit.nn.unet import UNetGenerator, unet_depth


def test_unet_depth_follows_the_image_size():
    assert [unet_depth(s) for s in (32, 64, 256, 512, 96)] == [5, 6, 8, 8, 5]
    with pytest.raises(GankitError, match="divisible by 8"):
        unet_depth(28)


def test_unet_is_fully_convolutional_at_multiples_of_its_stride():
    torch.manual_seed(0)
    net = UNetGenerator(1, 3, 32, width=4).eval()
    assert net.stride == 32 and len(net.downs) == 5
    out = net(torch.randn(2, 1, 64, 96))
    assert out.shape == (2, 3, 64, 96) and out.abs().max() <= 1


def test_unet_widths_and_dropout_follow_the_paper():
    net = UNetGenerator(3, 3, 256, width=64)
    convs = [next(m for m in down if isinstance(m, torch.nn.Conv2d)) for down in net.downs]
    assert [conv.out_channels for conv in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    dropouts = [any(isinstance(m, torch.nn.Dropout) for m in up) for up in net.ups]
    assert dropouts == [False] * 5 + [True] * 3  # the first 3 decoder layers (CD512, Sec. 6.1.1)
    norms = [any(isinstance(m, torch.nn.BatchNorm2d) for m in down) for down in net.downs]
    assert norms == [False] + [True] * 6 + [False]  # none on the first layer or the bottleneck


def test_dropout_is_the_noise_in_training_mode_only():
    torch.manual_seed(0)
    net = UNetGenerator(1, 1, 16, width=4)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


def test_skips_carry_the_input_to_the_output():
    torch.manual_seed(0)
    net = UNetGenerator(1, 1, 16, width=4).eval()
    x = torch.zeros(1, 1, 16, 16, requires_grad=True)
    net(x)[0, 0, 5, 5].backward()
    assert x.grad[0, 0, 5, 5] != 0  # the outermost skip: pixel to pixel


def test_patchgan_receptive_field_and_the_30x30_output_at_256():
    assert [patch_size(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    net = PatchDiscriminator(6, 256, width=8, layers=3)
    assert net(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # the paper's 70x70 D
    with pytest.raises(GankitError, match="too small for a 3-layer PatchGAN"):
        PatchDiscriminator(2, 16, layers=3)


def tiny_model(**changes) -> Pix2Pix:
    torch.manual_seed(0)
    return Pix2Pix(dataclasses.replace(Pix2Pix.tiny_config(), **changes))


def batch_of(n=4, size=16):
    return {"a": torch.rand(n, 1, size, size) * 2 - 1, "b": torch.rand(n, 1, size, size) * 2 - 1}


def test_losses_are_eq_4_with_a_halved_discriminator():
    model, batch = tiny_model(), batch_of()
    d = model.discriminator_loss(batch, 0)
    fake = model._fake.detach()
    real_logits = model.discriminator(torch.cat([batch["a"], batch["b"]], 1))
    fake_logits = model.discriminator(torch.cat([batch["a"], fake], 1))
    assert d["loss"].item() == pytest.approx(0.5 * d_logistic(real_logits, fake_logits).item())
    g = model.generator_loss(batch, 0)
    expected = g_non_saturating(fake_logits) + 100 * (fake - batch["b"]).abs().mean()
    assert g["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert model._fake is None  # one generator forward per step: the D phase's fake was reused


def test_direction_btoa_swaps_input_and_target():
    model, batch = tiny_model(direction="BtoA", gan_weight=0.0), batch_of()
    model.eval()
    g = model.generator_loss(batch, 0)
    expected = (model.generator(batch["b"]) - batch["a"]).abs().mean().item()
    assert g["l1"].item() == pytest.approx(expected)
    with pytest.raises(GankitError, match="translates BtoA only"):
        model.translate(batch["a"], direction="AtoB")
    with pytest.raises(GankitError, match="model.direction must be AtoB or BtoA"):
        tiny_model(direction="sideways")


def test_the_l1_baseline_has_no_discriminator():
    model = tiny_model(gan_weight=0.0)
    assert model.discriminator is None and not list(model.discriminator_parameters())
    g = model.generator_loss(batch_of(), 0)
    assert set(g) == {"loss", "l1"} and g["loss"].item() == pytest.approx(100 * g["l1"].item())


def test_presets_are_the_papers_optimiser_and_schedule():
    for name in ("pix2pix", "pix2pix-l1"):
        train = gankit.preset(name).train
        assert (train.lr, train.beta1, train.beta2) == (2e-4, 0.5, 0.999)
        assert train.lr_decay_start == 0.5 and train.ema == 0
    model = gankit.preset("pix2pix").model
    assert (model.l1_weight, model.gan_weight, model.d_layers, model.dropout) == (100, 1, 3, 0.5)
    assert gankit.preset("pix2pix-l1").model.gan_weight == 0


def test_sampling_from_noise_is_refused():
    with pytest.raises(GankitError, match="use `gankit translate`"):
        tiny_model().sample(2)
