"""CycleGAN: the ResNet generator, the image pool, the losses of Eq. 3 and exact resumption."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.losses import d_least_squares, l1
from gankit.models.cyclegan import CycleGAN, ImagePool, default_blocks
from gankit.nn.resnet import ResnetGenerator
from gankit.train.checkpoint import load_checkpoint
from gankit.train.trainer import Trainer


def test_resnet_generator_keeps_any_multiple_of_4():
    torch.manual_seed(0)
    net = ResnetGenerator(1, 3, width=4, blocks=2).eval()
    assert net(torch.randn(2, 1, 20, 36)).shape == (2, 3, 20, 36)
    assert sum(type(m).__name__ == "ResidualBlock" for m in net.modules()) == 2
    assert [default_blocks(s) for s in (32, 128, 256, 512)] == [6, 6, 9, 9]


def test_the_pool_fills_then_swaps_half_for_past_images():
    torch.manual_seed(0)
    pool = ImagePool(4, 1, 2)
    first = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    assert torch.equal(pool.query(first), first) and int(pool.count) == 3
    second = torch.full((100, 1, 2, 2), 9.0)
    out = pool.query(second)
    assert int(pool.count) == 4 and torch.equal(out[0], second[0])  # the 4th slot filled
    past = out[1:, 0, 0, 0]
    swapped = (past != 9).float().mean()
    assert 0.3 < swapped < 0.7 and set(past.tolist()) <= {0.0, 1.0, 2.0, 9.0}
    assert (pool.images == 9).all()  # each swap stored the newer image
    assert set(dict(pool.named_buffers())) == {"images", "count"}  # checkpointed with the model


def test_a_pool_of_size_zero_passes_images_through():
    images = torch.randn(3, 1, 4, 4)
    assert torch.equal(ImagePool(0, 1, 4).query(images), images)


def tiny_model(**changes) -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(dataclasses.replace(CycleGAN.tiny_config(), **changes))


def batch_of(n=4, size=16):
    return {"a": torch.rand(n, 1, size, size) * 2 - 1, "b": torch.rand(n, 1, size, size) * 2 - 1}


def test_losses_are_eq_3_with_identity_and_pooled_fakes():
    model, batch = tiny_model(pool_size=0), batch_of()
    d = model.discriminator_loss(batch, 0)
    fake_a, fake_b = (fake.detach() for fake in model._fakes)
    d_b = d_least_squares(model.discriminator["b"](batch["b"]), model.discriminator["b"](fake_b))
    assert d["loss_d_b"].item() == pytest.approx(d_b.item())
    g = model.generator_loss(batch, 0)
    to_a, to_b = model.generator["b_to_a"], model.generator["a_to_b"]
    cycle = l1(to_a(fake_b), batch["a"]) + l1(to_b(fake_a), batch["b"])
    identity = l1(to_b(batch["b"]), batch["b"]) + l1(to_a(batch["a"]), batch["a"])
    adversarial = ((model.discriminator["b"](fake_b) - 1) ** 2).mean() + (
        (model.discriminator["a"](fake_a) - 1) ** 2
    ).mean()  # Zhu et al.'s (D - 1)^2, unhalved
    expected = adversarial + 10 * cycle + 5 * identity
    assert g["cycle"].item() == pytest.approx(cycle.item(), rel=1e-5)
    assert g["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert "identity" not in tiny_model(identity_weight=0.0).generator_loss(batch, 0)


def test_translate_goes_either_way_with_its_own_generator():
    model = tiny_model().eval()
    images = torch.rand(2, 1, 12, 12) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(images), model.generator["a_to_b"](images))
        back = model.translate(images, direction="BtoA")
        assert torch.equal(back, model.generator["b_to_a"](images))
    with pytest.raises(GankitError, match="--direction must be AtoB or BtoA"):
        model.translate(images, direction="up")
    with pytest.raises(GankitError, match="multiple of 4"):
        tiny_model(image_size=18)


def write_unpaired(root, n=16, size=16):
    rng = np.random.default_rng(0)
    for name in ("trainA", "trainB", "testA", "testB"):
        (root / name).mkdir(parents=True)
        for i in range(n):
            array = rng.integers(0, 256, (size, size), dtype=np.uint8)
            Image.fromarray(array // (2 if name.endswith("A") else 1)).save(
                root / name / f"{i}.png"
            )
    return f"unpaired:{root}"


def tiny_run(data, out, steps):
    config = gankit.preset("cyclegan")
    for key, value in dataclasses.asdict(CycleGAN.tiny_config()).items():
        if key not in ("image_size", "channels"):
            setattr(config.model, key, value)
    config.model.image_size = 16
    config.train.steps, config.train.batch_size, config.train.lr_decay_start = steps, 4, 1.0
    config.train.checkpoint_every, config.train.sample_every, config.train.log_every = 2, 2, 2
    config.train.tensorboard, config.data.spec, config.out = False, data, str(out)
    return config


def test_an_interrupted_run_resumes_to_the_same_weights_and_pool(tmp_path, monkeypatch):
    data = write_unpaired(tmp_path / "data")
    straight = gankit.train(tiny_run(data, tmp_path / "straight", 6))
    step = Trainer.train_step

    def interrupted_at_3(trainer):  # Ctrl-C: stop after the current step
        losses = step(trainer)
        trainer._stop = trainer._stop or trainer.step == 3
        return losses

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_3)
    first = gankit.train(tiny_run(data, tmp_path / "resumed", 6))
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = gankit.train(gankit.resume_config(first), resume=first)
    a, state_a = load_checkpoint(straight / "checkpoints" / "last.safetensors")
    b, state_b = load_checkpoint(resumed / "checkpoints" / "last.safetensors")
    assert state_a["step"] == state_b["step"] == 6 and set(a) == set(b)
    assert int(a["model.pool_a.count"]) == 4  # full: 4 slots, 6 steps of 4 fakes
    for key in a:
        assert torch.equal(a[key], b[key]), key
