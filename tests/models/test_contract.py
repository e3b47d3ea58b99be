"""One contract test over every registered preset: a new model is tested for free."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.models import MODELS, PRESETS, build_model
from gankit.train.checkpoint import load_checkpoint


def family_of(name: str):
    return MODELS.get(PRESETS.get(name).family)


NOISE_PRESETS = [name for name in PRESETS if not family_of(name).translates]
TRANSLATION_PRESETS = [name for name in PRESETS if family_of(name).translates]


def tiny(name: str, data: str, out) -> gankit.RunConfig:
    config = gankit.preset(name)
    config.model.z_dim, config.model.width, config.model.image_size = 8, 4, 16
    train = config.train
    train.steps, train.batch_size, train.log_every = 3, 16, 1
    train.sample_every, train.checkpoint_every, train.tensorboard = 2, 2, False
    train.compile = False  # compiling every preset would dominate the suite; tested on its own
    config.data.spec, config.out = data, str(out)
    return config


@pytest.mark.parametrize("name", NOISE_PRESETS)
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


@pytest.fixture(scope="module")
def image_to_image_root(tmp_path_factory):
    """One folder in both layouts: train/, test/ of 16 x 32 A|B pairs (pairs:) and trainA/,
    trainB/, testA/, testB/ of 16 x 16 images (unpaired:)."""
    root = tmp_path_factory.mktemp("image-to-image")
    rng = np.random.default_rng(0)
    for name, width in (("train", 32), ("test", 32), ("trainA", 16), ("trainB", 16)):
        (root / name).mkdir()
        for i in range(20):
            image = rng.integers(0, 256, (16, width), dtype=np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.png")
    for name in ("testA", "testB"):
        (root / name).symlink_to(root / name.replace("test", "train"))
    return root


def tiny_translator(name: str, root, out) -> gankit.RunConfig:
    """The preset with its family's tiny sizes (its other choices kept), 3 steps."""
    config = gankit.preset(name)
    tiny = family_of(name).tiny_config()
    for field in dataclasses.fields(tiny):
        if field.name != "channels" and getattr(tiny, field.name) != field.default:
            setattr(config.model, field.name, getattr(tiny, field.name))
    train = config.train
    train.steps, train.batch_size, train.log_every = 3, 8, 1
    train.sample_every, train.checkpoint_every, train.tensorboard = 2, 2, False
    kind = {"images": "folder"}.get(family_of(name).data_kind, family_of(name).data_kind)
    config.data.spec, config.out = f"{kind}:{root}", str(out)
    if hasattr(config.model, "style"):  # style-transfer: one style image (any image serves)
        config.model.style = str(root / "trainA" / "0.png")
    return config


@pytest.mark.parametrize("name", TRANSLATION_PRESETS)
def test_every_translation_preset_trains_translates_and_round_trips(
    name, image_to_image_root, tmp_path
):
    run_dir = gankit.train(tiny_translator(name, image_to_image_root, tmp_path / name))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(
        np.isfinite(v) for v in eval(lines[-1]).values() if isinstance(v, float)
    )
    assert sorted(p.name for p in (run_dir / "samples").iterdir())[-1] == "step-000003.png"
    assert (run_dir / "report.html").is_file()
    model = gankit.load(run_dir)
    images = torch.rand(3, 1, 16, 32) * 2 - 1  # any multiple of the stride, not only 16 x 16
    translated = model.translate(images)
    scale = getattr(model, "output_scale", 1)  # super-resolution: outputs are larger
    assert translated.shape == (3, 1, 16 * scale, 32 * scale) and translated.abs().max() <= 1
    assert torch.equal(translated, model.translate(images))  # eval mode: deterministic
    tensors, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["step"] == 3 and any(key.startswith("optim.generator.") for key in tensors)
    rebuilt = build_model(model.run_config)
    assert set(rebuilt.state_dict()) == set(model.state_dict())
