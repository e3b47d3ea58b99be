import numpy as np
import pytest
import torch
from conftest import write_idx

import gankit
from gankit.models import build_model
from gankit.train.checkpoint import load_checkpoint
from gankit.train.trainer import Trainer


def config_for(data, out, steps, precision="fp32"):
    config = gankit.preset("dcgan")
    config.model.z_dim, config.model.width, config.model.image_size = 8, 8, 16
    config.train.steps, config.train.batch_size, config.train.precision = steps, 32, precision
    config.train.checkpoint_every, config.train.sample_every, config.train.log_every = 4, 4, 2
    config.train.tensorboard, config.train.compile = False, False
    config.data.spec, config.out = data, str(out)
    return config


def assert_same_checkpoints(straight, resumed, steps):
    a, state_a = load_checkpoint(straight / "checkpoints" / "last.safetensors")
    b, state_b = load_checkpoint(resumed / "checkpoints" / "last.safetensors")
    assert state_a["step"] == state_b["step"] == steps
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_mnist, tmp_path, monkeypatch):
    # The default recipe decays the lr over the second half: the schedule must survive the stop.
    assert gankit.preset("dcgan").train.lr_decay_start < 1
    straight = gankit.train(config_for(tiny_mnist, tmp_path / "straight", 10))
    step = Trainer.train_step

    def interrupted_at_6(trainer):  # what Ctrl-C does: stop after the current step
        losses = step(trainer)
        trainer._stop = trainer._stop or trainer.step == 6
        return losses

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_6)
    first = gankit.train(config_for(tiny_mnist, tmp_path / "resumed", 10))
    assert load_checkpoint(first / "checkpoints" / "last.safetensors")[1]["step"] == 6
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = gankit.train(gankit.resume_config(first), resume=first)
    assert_same_checkpoints(straight, resumed, 10)
    steps = [line for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 5  # steps 2..10 logged once each, across both sessions


def test_resume_with_more_steps_continues_a_constant_lr_run_exactly(tiny_mnist, tmp_path):
    def constant(out, steps):
        config = config_for(tiny_mnist, out, steps)
        config.train.lr_decay_start = 1.0  # a decay follows the total, which this run changes
        return config

    straight = gankit.train(constant(tmp_path / "straight", 10))
    first = gankit.train(constant(tmp_path / "resumed", 6))
    resumed = gankit.train(gankit.resume_config(first, ["train.steps=10"]), resume=first)
    assert_same_checkpoints(straight, resumed, 10)


def test_losses_fall_on_a_trivial_distribution(tmp_path):
    # Every training image is the same flat grey: the generator must learn to paint it.
    grey = np.full((256, 16, 16), 180, np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", grey)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(256, np.uint8))
    config = config_for(f"mnist:{tmp_path}", tmp_path / "run", 150, precision="auto")
    config.train.ema = 0.0
    target = 180 / 127.5 - 1
    config_filled, _ = gankit.api.prepare(config)
    before = build_model(config_filled).eval()
    error_before = (before.sample(64, seed=0) - target).abs().mean().item()
    run_dir = gankit.train(config)
    after = gankit.load(run_dir).sample(64, seed=0)
    error_after = (after - target).abs().mean().item()
    assert error_after < 0.25 * error_before, (error_before, error_after)


def test_time_budget_stops_with_a_checkpoint(tiny_mnist, tmp_path):
    config = config_for(tiny_mnist, tmp_path / "budget", 100000)
    config.train.max_seconds = 0.5
    run_dir = gankit.train(config)
    _, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert 0 < state["step"] < 100000


def test_learning_rate_decays_linearly_to_zero(tiny_mnist, tmp_path):
    config = config_for(tiny_mnist, tmp_path / "decay", 10)
    config.train.lr_decay_start = 0.5
    run_dir = gankit.train(config)
    _, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    # the last step (step index 9, progress 0.9) ran at (1 - 0.9) / (1 - 0.5) of the base lr
    for groups in state["optimizers"].values():
        assert groups[0]["lr"] == pytest.approx(0.2 * config.train.lr)


def test_standing_statistics_match_the_weights():
    from torch import nn

    from gankit.train.ema import with_standing_statistics

    network = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    network[1].running_mean.fill_(100.0)  # stale statistics, as averaged EMA buffers can be
    inputs = [torch.randn(64, 4) for _ in range(4)]
    calibrated = with_standing_statistics(network, lambda net, i: net(inputs[i]), batches=4)
    expected = network[0](torch.cat(inputs)).mean(0)
    assert torch.allclose(calibrated[1].running_mean, expected, atol=1e-5)
    assert network[1].running_mean[0] == 100.0 and not calibrated.training
