"""StyleGAN: network shapes, demodulation, truncation, mixing, the lazy R1 phase, EMA sampling."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import three_shapes

import gankit
from gankit.models.stylegan import StyleGAN, StyleGANConfig
from gankit.nn.stylegan import ModulatedConv2d, StyleGenerator, mix_styles
from gankit.stylegan_tools import interpolate, mix, mixing_ranges, slerp
from gankit.train.checkpoint import load_checkpoint, strip_prefix


def tiny_model(**values) -> StyleGAN:
    torch.manual_seed(0)
    return StyleGAN(StyleGANConfig(**{**vars(StyleGAN.tiny_config()), **values}))


@pytest.mark.parametrize("size", [8, 16, 32, 64, 128, 256])
def test_shapes_at_every_resolution(size):
    model = tiny_model(image_size=size, channels=3, width=2, max_width=8)
    assert model.generator.num_ws == 2 * int(math.log2(size)) - 2
    images = model.sample(2, seed=0)
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1
    ws = model.generator.styles(torch.randn(2, 8))
    assert ws.shape == (2, model.generator.num_ws, 8)
    assert model.discriminator(images).shape == (2,)


@pytest.mark.parametrize("size", [0, 4, 7])
def test_sizes_below_8_are_refused(size):
    with pytest.raises(gankit.GankitError, match=f"model.image_size {size}: StyleGAN makes"):
        tiny_model(image_size=size)


def test_28_pixel_data_is_padded_to_32_and_samples_are_cropped_back():
    model = tiny_model(image_size=28, channels=1, mixing=0.0)
    assert model.synthesis_size == 32 and model.generator.synthesis.const.shape[-1] == 4
    assert model.sample(3, seed=0).shape == (3, 1, 28, 28)
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    padded = model.pad(real)
    assert padded.shape == (4, 1, 32, 32) and torch.equal(model.crop(padded), real)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (padded[..., border] == -1).all()
    # D sees the reals padded and the fakes with the same black border, nothing resampled.
    seen = []
    model.discriminator.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model.discriminator_loss({"image": real}, 0)
    assert [x.shape[-1] for x in seen] == [32, 32]
    assert torch.equal(seen[0], padded) and (seen[1][..., border] == -1).all()


def interior_std(out):
    return out[:, :, 1:-1, 1:-1].float().std(dim=(1, 2, 3))  # per sample, zero padding left out


def test_demodulation_keeps_unit_variance_for_unit_variance_inputs():
    # StyleGAN2 Sec. 2.2: with i.i.d. unit-variance inputs, output j has variance
    # sum_i,k (s_i w_ijk)^2, which demodulation divides out, whatever the styles s.
    torch.manual_seed(0)
    conv = ModulatedConv2d(256, 128, 3, w_dim=16)
    with torch.no_grad():
        conv.affine.weight.mul_(20)  # styles far from 1, very different per channel and sample
    x, w = torch.randn(4, 256, 16, 16), torch.randn(4, 16)
    with torch.no_grad():
        out = conv(x, w)
        assert interior_std(out) == pytest.approx(torch.ones(4), abs=0.05)
        conv.demodulate = False
        assert (interior_std(conv(x, w)) - 1).abs().min() > 1  # without it, far from 1
        conv.demodulate = True
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = conv(x, w)
    assert interior_std(low) == pytest.approx(torch.ones(4), abs=0.06)
    assert torch.allclose(low.float(), out, atol=0.1)


def trained_w_avg(model: StyleGAN) -> None:
    """Move w_avg away from 0 by training-mode forwards of the mapping network."""
    model.generator.train()
    for _ in range(50):
        model.generator.mapping(torch.randn(16, 8))
    model.generator.eval()
    assert model.generator.mapping.w_avg.abs().sum() > 0


def test_truncation_psi_0_gives_the_average_image_and_psi_1_leaves_w_unchanged():
    model = tiny_model()
    trained_w_avg(model)
    mapping, z = model.generator.mapping, torch.randn(5, 8)
    assert torch.equal(mapping(z, psi=1.0), mapping(z))
    assert torch.allclose(mapping(z, psi=0.0), mapping.w_avg.expand(5, -1))
    model.set_noise_mode("const")
    model.set_truncation(0.0)
    images = model.sample(5, seed=3)
    average = model.synthesize(mapping.w_avg.expand(1, model.generator.num_ws, -1))
    assert torch.allclose(images, average.expand(5, -1, -1, -1), atol=1e-6)
    model.set_truncation(0.7)  # in between: closer to the average than psi = 1
    half = model.sample(5, seed=3)
    model.set_truncation(1.0)
    full = model.sample(5, seed=3)
    assert (half - average).abs().mean() < (full - average).abs().mean()
    with pytest.raises(gankit.GankitError, match="truncation psi must be in"):
        model.set_truncation(1.5)


def test_mixing_with_the_crossover_at_layer_0_equals_the_second_style_alone():
    model = tiny_model()
    model.set_noise_mode("const")
    ws_a = model.generator.styles(torch.randn(3, 8))
    ws_b = model.generator.styles(torch.randn(3, 8))
    assert torch.equal(mix_styles(ws_a, ws_b, 0), ws_b)
    assert torch.equal(model.synthesize(mix_styles(ws_a, ws_b, 0)), model.synthesize(ws_b))
    mixed = mix_styles(ws_a, ws_b, 2)
    assert torch.equal(mixed[:, :2], ws_a[:, :2]) and torch.equal(mixed[:, 2:], ws_b[:, 2:])


def test_training_mixes_styles_with_the_configured_probability():
    model = tiny_model(mixing=1.0)
    ws = model.mixed_styles(4, torch.device("cpu"))
    assert not torch.equal(ws[:, 0], ws[:, -1])  # two w's, crossover in 1..num_ws-1
    model.config.mixing = 0.0
    ws = model.mixed_styles(4, torch.device("cpu"))
    assert torch.equal(ws[:, 0], ws[:, -1])


def test_cluster_conditioning_feeds_the_mapping_network_and_d():
    model = tiny_model(clusters=3, mixing=0.0)
    data = three_shapes()
    model.fit_data(data, seed=0)
    images = data.batch(torch.arange(len(data)))["image"]
    clusters = model.clusters_of(images)
    assert len(set(clusters[[0, 20, 60]].tolist())) == 3 and clusters[20] == clusters[40]
    # The fakes of a batch are made for, and judged with, the clusters of its real images.
    batch = {"image": images[::5]}
    model.discriminator_loss(batch, 0)
    fake, condition = model._fakes
    assert torch.equal(condition, F.one_hot(clusters[::5], 3).float())
    # The same z in another cluster is another w (and image); D's logit depends on the cluster.
    z, one_hot = torch.randn(1, 8).expand(3, -1), torch.eye(3)
    ws = model.generator.mapping(z, 1.0, one_hot)
    assert torch.cdist(ws, ws)[~torch.eye(3, dtype=torch.bool)].min() > 1e-3
    logits = model.discriminator(images[:1].float().expand(3, -1, -1, -1) / 127.5 - 1, one_hot)
    assert logits.unique().numel() == 3


def test_cluster_samples_follow_the_data_shares_and_the_seed():
    model = tiny_model(clusters=3)
    model.fit_data(three_shapes(), seed=0)
    big = model.cluster_share.argmax().item()
    condition = model.seed_condition(2000, 5, torch.device("cpu"))
    assert abs(condition[:, big].mean().item() - 0.5) < 0.05
    assert torch.equal(model.sample(4, seed=1), model.sample(4, seed=1))
    # A seed stands for the same z and cluster in sample, interpolate and mix.
    first = model.sample(1, seed=7)
    model.set_noise_mode("const")
    frames = interpolate(model, [7, 8], steps=2, space="z")
    assert torch.allclose(frames[0], model.sample(1, seed=7)[0], atol=1e-5)
    assert not torch.equal(first, model.sample(1, seed=8))


def tiny_config(data, out, **model_values) -> gankit.RunConfig:
    config = gankit.preset("stylegan")
    for key, value in {**vars(StyleGAN.tiny_config()), "channels": 0, **model_values}.items():
        setattr(config.model, key, value)
    train = config.train
    train.steps, train.batch_size, train.log_every, train.tensorboard = 3, 8, 1, False
    config.data.spec, config.out = data, str(out)
    return config


def test_the_r1_phase_runs_only_on_its_interval(tiny_mnist, tmp_path):
    config, _ = gankit.api.prepare(tiny_config(tiny_mnist, tmp_path, r1_every=3, r1_gamma=2.0))
    trainer = gankit.api.build_trainer(config, tmp_path)
    calls = []

    def counted(batch, step):
        losses = StyleGAN.discriminator_regularizer(trainer.model, batch, step)
        calls.append((step, losses["loss"].item(), losses["r1"].item()))
        return losses

    trainer.regularizer.loss = counted
    assert trainer.regularizer.optimizer is trainer.phases[0].optimizer  # D's own optimizer
    logged = [trainer.train_step() for _ in range(7)]
    assert [step for step, _, _ in calls] == [0, 3, 6]
    assert ["r1" in entry for entry in logged] == [True, False, False, True, False, False, True]
    for _, loss, penalty in calls:  # gamma / 2 x the interval
        assert loss == pytest.approx(2.0 / 2 * 3 * penalty, rel=1e-3)
    unregularised = StyleGAN(StyleGANConfig(image_size=32, channels=1, r1_gamma=0.0))
    assert unregularised.regularizer_interval == 0


def test_path_length_regulariser_runs_every_pl_every_steps_in_the_generator_phase():
    model = tiny_model(pl_weight=2.0, pl_every=2)
    batch = {"image": torch.rand(4, 1, 16, 16) * 2 - 1}
    model.discriminator_loss(batch, 0)
    losses = model.generator_loss(batch, 0)
    assert "pl" in losses and torch.isfinite(losses["pl"]) and model.pl_mean > 0
    losses["loss"].backward()
    assert model.generator.mapping.layers[0].weight.grad is not None
    assert "pl" not in model.generator_loss(batch, 1)


def test_sampling_uses_the_ema_weights(tiny_mnist, tmp_path):
    config = tiny_config(tiny_mnist, tmp_path / "run")
    config.train.ema = 0.5  # (the warm-up makes it min(0.5, (1 + n) / (10 + n)))
    config, _ = gankit.api.prepare(config)
    trainer = gankit.api.build_trainer(config, tmp_path / "run")
    for _ in range(3):
        trainer.train_step()
    assert trainer.sampling_network is trainer.ema.module
    trainer.save()
    config.out = str(tmp_path / "run")
    gankit.config.save(config, tmp_path / "run" / "config.toml")
    tensors, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    averaged = strip_prefix("ema.module", tensors)
    model, raw = gankit.load(tmp_path / "run"), gankit.load(tmp_path / "run", ema=False)
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, averaged[key])
    assert not torch.equal(model.sample(4, seed=1), raw.sample(4, seed=1))
    expected = trainer.model.sample(4, seed=1, generator=trainer.ema.module)
    assert torch.allclose(model.sample(4, seed=1), expected, atol=1e-4)  # channels_last or not


def test_interpolation_starts_and_ends_at_the_seeds_images():
    model = tiny_model()
    model.set_noise_mode("const")
    for space in ("w", "z"):
        frames = interpolate(model, [1, 2, 3], steps=4, space=space)
        assert frames.shape == (9, 1, 16, 16)
        ends = mix(model, [1], [1, 3])[0][1:3]  # the top row: the column seeds' own images
        assert torch.allclose(frames[[0, -1]], ends, atol=1e-5)
    a, b = torch.randn(2, 8), torch.randn(2, 8)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    with pytest.raises(gankit.GankitError, match="at least 2 seeds"):
        interpolate(model, [1], steps=4)


def test_mixing_grid_layout_and_ranges():
    assert mixing_ranges(8) == [("coarse", 0, 4), ("middle", 4, 6), ("fine", 6, 8)]
    assert mixing_ranges(18) == [("coarse", 0, 4), ("middle", 4, 8), ("fine", 8, 18)]
    assert mixing_ranges(6) == [("coarse", 0, 4), ("fine", 4, 6)]
    model = tiny_model()
    images, per_row = mix(model, [1, 2], [3, 4, 5])
    ranges = len(mixing_ranges(model.generator.num_ws))
    assert per_row == 4 and images.shape == ((1 + ranges * 2) * 4, 1, 16, 16)
    assert torch.all(images[0] == 1.0)  # the blank corner
    # Taking every style from B gives B's image: the fine row of seed 1 differs from seed 1's
    # coarse row, but a row's first cell is always B itself.
    assert torch.equal(images[4], images[4 + 2 * 4])


def test_generator_runs_under_bf16_autocast():
    generator = StyleGenerator(8, 8, 8, 16, 1, 4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = generator(torch.randn(2, 8))
    assert torch.isfinite(images.float()).all()


def test_discriminator_runs_nhwc_on_one_channel_images():
    # A (B, 1, H, W) image is NCHW and NHWC at once; D must still run its trunk NHWC.
    model = tiny_model(channels=1).to(memory_format=torch.channels_last)
    seen = []
    model.discriminator.blocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    model.discriminator(torch.randn(4, 1, 16, 16))
    assert seen == [True] and not torch.randn(4, 4, 16, 16).is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.parametrize(("group", "linked"), [(4, [False, True] * 3 + [False]), (8, [True] * 7)])
def test_minibatch_std_groups_follow_minibatch_std(group, linked):
    # Groups are strided (sample i is in group i % (B / G)): with 4 of a batch of 8, the last
    # image's spread reaches the odd samples only; with 8 (the whole batch), every sample.
    model = tiny_model(minibatch_std=group).eval()
    images = torch.randn(8, 1, 16, 16)
    changed = images.clone()
    changed[7] += 1
    with torch.no_grad():
        moved = model.discriminator(changed)[:7] != model.discriminator(images)[:7]
    assert moved.tolist() == linked


def test_minibatch_std_must_be_positive():
    with pytest.raises(gankit.GankitError, match="model.minibatch_std must be positive, got 0"):
        tiny_model(minibatch_std=0)
