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
