"""SRResNet / SRGAN (Ledig et al. 2017): network shapes, pixel shuffle, training, --init-from."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.nn.srresnet import SRDiscriminator, SRResNet


def pixel_shuffle_by_hand(x, factor):
    """Shi et al. 2016, Eq. 4: out[c, h r + i, w r + j] = in[c r^2 + i r + j, h, w]."""
    batch, channels, height, width = x.shape
    out = torch.empty(batch, channels // factor**2, height * factor, width * factor)
    for c in range(channels // factor**2):
        for i in range(factor):
            for j in range(factor):
                out[:, c, i::factor, j::factor] = x[:, c * factor**2 + i * factor + j]
    return out


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_upscales_by_its_scale(scale):
    network = SRResNet(3, scale, width=8, blocks=2)
    assert len(network.upsample) == {2: 1, 4: 2, 8: 3}[scale]
    assert network(torch.randn(2, 3, 5, 7)).shape == (2, 3, 5 * scale, 7 * scale)


def test_paper_generator_layout():
    network = SRResNet(3)
    assert len(network.blocks) == 16 and network.head[0].kernel_size == (9, 9)
    assert network.tail.kernel_size == (9, 9) and network.upsample[0][0].out_channels == 256


def test_pixel_shuffle_layout():
    x = torch.randn(2, 12, 3, 4)
    assert torch.equal(torch.nn.PixelShuffle(2)(x), pixel_shuffle_by_hand(x, 2))


def test_discriminator_is_the_papers():
    network = SRDiscriminator(3, 96)
    convs = [m for m in network.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert network.head[1].in_features == 512 * 6 * 6 and network.head[1].out_features == 1024
    assert SRDiscriminator(1, 28, 8, 16)(torch.randn(3, 1, 28, 28)).shape == (3,)


@pytest.fixture(scope="module")
def sr_root(tmp_path_factory):
    """DIV2K_train_HR / DIV2K_valid_HR with 16 smooth grey 16 x 16 images each (no LR folder)."""
    root = tmp_path_factory.mktemp("sr")
    rng = np.random.default_rng(0)
    for folder in ("DIV2K_train_HR", "DIV2K_valid_HR"):
        (root / folder).mkdir()
        for i in range(16):
            small = rng.integers(0, 256, (4, 4), dtype=np.uint8)
            image = Image.fromarray(small).resize((16, 16), Image.Resampling.BICUBIC)
            image.save(root / folder / f"{i:04d}.png")
    return root


def tiny(name, root, out, steps=3, **model):
    config = gankit.preset(name)
    values = {"image_size": 8, "scale": 2, "width": 8, "blocks": 1, "d_width": 4, "d_dense": 8}
    for key, value in {**values, **model}.items():
        setattr(config.model, key, value)
    config.train.steps, config.train.batch_size, config.train.tensorboard = steps, 8, False
    config.data.spec, config.out = f"superres:{root}", str(out)
    return config


def test_srresnet_mse_falls(sr_root, tmp_path):
    config = tiny("srresnet", sr_root, tmp_path / "r")
    config.train.lr = 1e-3
    config, _ = gankit.api.prepare(config)
    trainer = gankit.api.build_trainer(config, tmp_path / "r")
    assert trainer.model.discriminator is None and len(trainer.phases) == 1
    losses = [trainer.train_step()["mse"].item() for _ in range(40)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_srgan_inits_from_a_srresnet_run_and_refuses_others(sr_root, tmp_path):
    first = gankit.train(tiny("srresnet", sr_root, tmp_path / "first"))
    config = tiny("srgan", sr_root, tmp_path / "second", steps=1, init_from=str(first))
    config, data = gankit.api.prepare(config)
    model = gankit.models.build_model(config)
    model.fit_data(data, 0)
    trained = gankit.load(first)
    for key, value in trained.generator.state_dict().items():
        assert torch.equal(model.generator.state_dict()[key], value), key
    assert config.model.features == "fashion"  # no VGG19 weights here: the offline network
    losses = model.generator_loss(data.batch(torch.arange(8)), 0)
    assert {"loss", "content", "mse", "loss_g"} <= set(losses)
    wrong = tmp_path / "wrong"
    shutil.copytree(first, wrong)
    text = (wrong / "config.toml").read_text().replace("scale = 2", "scale = 4")
    (wrong / "config.toml").write_text(text)
    model.config.init_from = str(wrong)
    with pytest.raises(GankitError, match="model.scale is 4 there, 2 here"):
        model.fit_data(data, 0)


def test_srgan_trains_and_upscales(sr_root, tmp_path):
    run_dir = gankit.train(tiny("srgan", sr_root, tmp_path / "gan"))
    model = gankit.load(run_dir)
    output = model.translate(torch.rand(2, 1, 5, 6) * 2 - 1)
    assert output.shape == (2, 1, 10, 12) and output.abs().max() <= 1
    with pytest.raises(GankitError, match="upscales images"):
        model.sample(2)


def test_sr_eval_reports_psnr_ssim_next_to_bicubic(sr_root, tmp_path):
    from gankit.metrics.evaluate import evaluate
    from gankit.metrics.superres import save_sr_grid

    run_dir = gankit.train(tiny("srresnet", sr_root, tmp_path / "e", steps=2))
    results = evaluate(run_dir, n=16)
    for key in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"):
        assert np.isfinite(results[key]), key
    assert results["n"] == 16 and results["scale"] == 2 and "fid skipped" in results["note"]
    grid = save_sr_grid([run_dir, run_dir], tmp_path / "grid.png")
    # 8 rows of LR | bicubic | two runs | HR, 16 px each (1 px grey between), 2x enlarged
    assert Image.open(grid).size == (2 * (5 * 16 + 4 + 8), 2 * (8 * 16 + 9 * 4))


def test_srresnet_evaluates_during_training_as_gankit_eval_does(sr_root, tmp_path):
    """train.eval_every scores an SR run with gankit.metrics.superres (it raised a KeyError)."""
    import json

    from gankit.metrics.evaluate import evaluate

    config = tiny("srresnet", sr_root, tmp_path / "e", steps=4)
    config.train.eval_every, config.train.eval_n = 2, 8
    run_dir = gankit.train(config)
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    scored = [line for line in lines if "psnr" in line]
    assert [line["step"] for line in scored] == [2, 4]
    assert all(line["n"] == 8 and line["scale"] == 2 for line in scored)
    final = evaluate(run_dir, n=8)  # the last weights are those scored at step 4
    for key in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"):
        assert scored[-1][key] == pytest.approx(final[key], rel=1e-6), key


def test_srgan_paper_preset_steps_the_lr_down_tenfold_after_half_the_updates(sr_root, tmp_path):
    """Ledig et al. 2017: Adam 1e-4, then 1e-5 (train.lr_schedule = "step"); srgan decays."""
    assert gankit.preset("srgan-paper").train.lr_schedule == "step"
    assert gankit.preset("srgan").train.lr_schedule == "linear"
    config = tiny("srgan-paper", sr_root, tmp_path / "s", steps=10)
    config.train.lr_decay_start = 0.5
    config, _ = gankit.api.prepare(config)
    trainer = gankit.api.build_trainer(config, tmp_path / "s")
    rates = []
    for _ in range(10):
        trainer.train_step()
        rates.append([phase.optimizer.param_groups[0]["lr"] for phase in trainer.phases])
    assert len(trainer.phases) == 2  # the discriminator's lr follows the same schedule
    expected = [[1e-4, 1e-4]] * 5 + [[1e-5, 1e-5]] * 5
    assert np.allclose(rates, expected, rtol=1e-9, atol=0), rates
    config.train.lr_schedule = "cosine"
    with pytest.raises(GankitError, match="lr_schedule must be one of linear, step"):
        gankit.api.validate(config)


def test_a_step_schedule_run_resumes_to_the_same_weights(sr_root, tmp_path, monkeypatch):
    from gankit.train.checkpoint import load_checkpoint
    from gankit.train.trainer import Trainer

    def config(out):
        made = tiny("srresnet", sr_root, out, steps=8)
        made.train.lr_decay_start, made.train.lr_schedule = 0.5, "step"
        made.train.precision = "fp32"
        return made

    straight = gankit.train(config(tmp_path / "straight"))
    step = Trainer.train_step

    def interrupted_at_3(trainer):  # Ctrl-C: stop after the current step, before the lr drop
        losses = step(trainer)
        trainer._stop = trainer._stop or trainer.step == 3
        return losses

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_3)
    first = gankit.train(config(tmp_path / "resumed"))
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = gankit.train(gankit.resume_config(first), resume=first)
    a, state_a = load_checkpoint(straight / "checkpoints" / "last.safetensors")
    b, state_b = load_checkpoint(resumed / "checkpoints" / "last.safetensors")
    assert state_a["step"] == state_b["step"] == 8
    assert state_b["optimizers"]["generator"][0]["lr"] == pytest.approx(1e-5)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_bicubic_skip_starts_as_bicubic_upsampling():
    """model.bicubic_skip (not the paper's): G(x) = residual + bicubic(x), the residual at 0."""
    low = torch.rand(2, 3, 6, 5) * 2 - 1
    network = SRResNet(3, 4, width=8, blocks=1, bicubic_skip=True)
    bicubic = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic")
    assert torch.allclose(network(low), bicubic, atol=1e-6)
    assert not torch.allclose(SRResNet(3, 4, width=8, blocks=1)(low), bicubic, atol=0.1)
