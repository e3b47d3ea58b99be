"""One contract test over every registered preset: a new model is tested for free."""

import numpy as np
import pytest
import torch

import gankit
from gankit.models import PRESETS, build_model
from gankit.train.checkpoint import load_checkpoint


def tiny(name: str, data: str, out) -> gankit.RunConfig:
    config = gankit.preset(name)
    config.model.z_dim, config.model.width, config.model.image_size = 8, 4, 16
    train = config.train
    train.steps, train.batch_size, train.log_every = 3, 16, 1
    train.sample_every, train.checkpoint_every, train.tensorboard = 2, 2, False
    train.compile = False  # compiling every preset would dominate the suite; tested on its own
    config.data.spec, config.out = data, str(out)
    return config


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_trains_samples_and_round_trips(name, tiny_mnist, tmp_path):
    run_dir = gankit.train(tiny(name, tiny_mnist, tmp_path / name))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(
        np.isfinite(v) for v in eval(lines[-1]).values() if isinstance(v, float)
    )
    assert sorted(p.name for p in (run_dir / "samples").iterdir())[-1] == "step-000003.png"
    assert (run_dir / "report.html").is_file()
    model = gankit.load(run_dir)
    labels = torch.tensor([1, 2, 3]) if model.num_classes else None
    images = model.sample(3, labels=labels, seed=5)
    assert images.shape == (3, 1, 16, 16) and images.abs().max() <= 1
    assert torch.equal(images, model.sample(3, labels=labels, seed=5))  # same seed, same images
    tensors, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["step"] == 3 and any(key.startswith("optim.generator.") for key in tensors)
    rebuilt = build_model(model.run_config)
    assert set(rebuilt.state_dict()) == set(model.state_dict())


def test_wgan_clips_critic_weights(tiny_mnist, tmp_path):
    run_dir = gankit.train(tiny("wgan", tiny_mnist, tmp_path / "w"))
    model = gankit.load(run_dir, ema=False)
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= 0.01 + 1e-7


def test_conditional_sampling_obeys_labels(tiny_mnist, tmp_path):
    run_dir = gankit.train(tiny("cgan", tiny_mnist, tmp_path / "c"))
    model = gankit.load(run_dir)
    images, labels = gankit.sample(model, 6, labels=torch.tensor([0, 0, 3, 3, 9, 9]), seed=1)
    assert images.shape == (6, 16, 16, 1) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 3, 3, 9, 9]
    with pytest.raises(gankit.GankitError, match="labels must be in 0..9"):
        gankit.sample(model, 2, labels=torch.tensor([0, 10]))


def test_compiled_training_matches_the_contract(tiny_mnist, tmp_path):
    config = tiny("dcgan", tiny_mnist, tmp_path / "compiled")
    config.train.compile = True
    run_dir = gankit.train(config)
    assert gankit.load(run_dir).sample(2).shape == (2, 1, 16, 16)


def test_lazy_gradient_penalty_runs_as_its_own_phase_every_n_steps(tiny_mnist, tmp_path):
    config = tiny("wgan-gp", tiny_mnist, tmp_path / "lazy")
    config.model.gp_every, config.train.d_steps = 2, 1
    config, _ = gankit.api.prepare(config)
    trainer = gankit.api.build_trainer(config, tmp_path / "lazy")
    calls = []

    def counted(batch, step):
        losses = trainer.model.__class__.discriminator_regularizer(trainer.model, batch, step)
        calls.append((step, losses["loss"].item(), losses["gp"].item()))
        return losses

    trainer.regularizer.loss = counted
    # The critic phase itself no longer adds the penalty: its loss is the Wasserstein one alone.
    assert "gp" not in trainer.model.discriminator_loss(trainer.next_batch(), 0)
    logged = [trainer.train_step() for _ in range(5)]
    assert [step for step, _, _ in calls] == [0, 2, 4]
    for _, loss, penalty in calls:  # weighted gp_every x lambda, so the average weight is lambda
        assert loss == pytest.approx(2 * 10.0 * penalty, rel=1e-4)
    assert ["gp" in entry for entry in logged] == [True, False, True, False, True]
