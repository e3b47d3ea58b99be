"""StarGAN: the losses of Choi et al. 2018, label handling, translation, attribute scoring."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.data.tasks import make_task
from gankit.errors import GankitError
from gankit.metrics import attributes
from gankit.models.stargan import (
    StarGAN,
    StarGANConfig,
    classification_loss,
    default_layers,
    label_layout,
)

ATTRS = ["Red", "Green", "Blue", "Bold", "Framed"]


def model_for(attrs=ATTRS, sizes=(5,), single=(False,), names=("celeba",), **kwargs):
    masks = len(sizes) if len(sizes) > 1 else 0
    config = StarGANConfig(
        image_size=16,
        channels=3,
        num_classes=sum(sizes) + masks,
        attrs=list(attrs),
        block_names=list(names),
        block_sizes=list(sizes),
        block_single=list(single),
        exclusive=[["Red", "Green", "Blue"]] if "Red" in attrs else [],
        width=4,
        d_width=4,
        blocks=1,
        **kwargs,
    )
    return StarGAN(config).eval()


def test_networks_take_the_label_and_give_two_heads():
    model = model_for()
    images, labels = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([[1.0, 0, 0, 1, 0]] * 2)
    assert model.generator(images, labels).shape == (2, 3, 16, 16)
    source, classes = model.discriminator(images)
    assert source.shape[:2] == (2, 1) and classes.shape == (2, 5)
    assert model.discriminator(torch.zeros(2, 3, 16, 32))[1].shape == (2, 5)  # averaged
    other = torch.tensor([[0.0, 1, 0, 0, 1]] * 2)  # the label must survive the instance norm
    assert (model.generator(images, labels) - model.generator(images, other)).abs().max() > 1e-4
    assert [default_layers(size) for size in (16, 32, 128, 256)] == [2, 3, 5, 6]


def test_classification_loss_is_bce_per_attribute_and_ce_per_category():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    multi = label_layout(StarGANConfig(num_classes=3))
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / 2
    assert classification_loss(logits, target, multi) == pytest.approx(float(expected))
    single = label_layout(StarGANConfig(num_classes=3, block_single=[True]))
    expected = F.cross_entropy(logits, target.argmax(1))
    assert classification_loss(logits, target, single) == pytest.approx(float(expected))


def test_the_mask_vector_hides_unknown_labels():
    config = StarGANConfig(num_classes=6, block_sizes=[2, 2], block_single=[False, True])
    layout = label_layout(config)
    assert [(b.start, b.size, b.mask) for b in layout] == [(0, 2, 4), (2, 2, 5)]
    target = torch.tensor([[1.0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 1]])
    logits = torch.randn(2, 6)
    changed = logits.clone()
    changed[0, 2:4] += 50  # the first sample's RaFD part is unknown: no effect
    changed[1, :2] -= 50  # nor the second's CelebA part
    changed[:, 4:] += 9  # the mask dims are never classified
    assert classification_loss(changed, target, layout) == pytest.approx(
        float(classification_loss(logits, target, layout))
    )
    known = F.binary_cross_entropy_with_logits(logits[0, :2], target[0, :2], reduction="sum")
    known = known + F.cross_entropy(logits[1:, 2:4], torch.tensor([1]))
    assert classification_loss(logits, target, layout) == pytest.approx(float(known))


def test_losses_train_the_right_networks():
    model = model_for().train()
    batch = {"image": torch.rand(4, 3, 16, 16) * 2 - 1, "attrs": torch.eye(5)[[0, 1, 3, 4]]}
    d_losses = model.discriminator_loss(batch, 0)
    assert set(d_losses) == {"loss", "loss_d", "gp", "cls_real"}
    d_losses["loss"].backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())
    model.zero_grad(set_to_none=True)
    g_losses = model.generator_loss(batch, 0)
    assert set(g_losses) == {"loss", "loss_g", "cls_fake", "rec"}
    g_losses["loss"].backward()
    assert all(p.grad is not None for p in model.generator.parameters())


def test_joint_batches_mix_both_datasets():
    attrs = ["Male", "angry", "happy", "mask:celeba", "mask:rafd"]
    model = model_for(attrs, sizes=(1, 2), single=(False, True), names=("celeba", "rafd")).train()
    labels = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 1]])
    batch = {"image": torch.rand(4, 3, 16, 16) * 2 - 1, "attrs": labels}
    for losses in (model.discriminator_loss(batch, 0), model.generator_loss(batch, 0)):
        assert all(torch.isfinite(value) for value in losses.values())


def test_label_changes_keep_exclusive_groups_one_hot():
    model = model_for()
    own = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    blue = model.with_change(own, "Blue", True)
    assert blue.tolist() == [[0, 0, 1, 1, 0], [0, 0, 1, 0, 1]]
    assert model.with_change(own, "Bold", False)[:, 3].tolist() == [0, 0]
    assert model.parse_changes("+Blue, -Bold,Framed") == [
        ("Blue", True),
        ("Bold", False),
        ("Framed", True),
    ]
    with pytest.raises(GankitError, match=r"not trained on 'Blond_Hair' \(its attributes: Red"):
        model.parse_changes("+Blond_Hair")
    names = [name for name, _ in model.single_changes(own)]
    assert names == ["+Red", "+Green", "+Blue", "~Bold", "~Framed"]
    toggled = dict(model.single_changes(own))["~Bold"]
    assert toggled[:, 3].tolist() == [0, 1]


def test_joint_labels_switch_the_mask_and_categories_cannot_be_cleared():
    attrs = ["Male", "angry", "happy", "mask:celeba", "mask:rafd"]
    model = model_for(attrs, sizes=(1, 2), single=(False, True), names=("celeba", "rafd"))
    own = torch.tensor([[1.0, 0, 0, 1, 0]])
    assert model.with_change(own, "happy", True).tolist() == [[1, 0, 1, 0, 1]]
    assert model.settable() == ["Male", "angry", "happy"]
    with pytest.raises(GankitError, match="rafd labels are set, not cleared"):
        model.with_change(own, "happy", False)
    assert model.own_labels(torch.zeros(2, 3, 16, 16))[:, 3:].tolist() == [[1, 0], [1, 0]]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_mnist):
    root = tmp_path_factory.mktemp("stargan")
    task = make_task("fashion-attrs", root / "task", train=60, test=30, source=tiny_mnist)
    config = gankit.preset("stargan")
    tiny = StarGAN.tiny_config()
    for field in ("width", "d_width", "blocks", "d_layers", "image_size"):
        setattr(config.model, field, getattr(tiny, field))
    train = config.train
    train.steps, train.batch_size, train.log_every = 3, 8, 1
    train.sample_every, train.checkpoint_every, train.tensorboard = 2, 2, False
    config.data.spec, config.out = f"celeba:{task}", str(root / "run")
    return gankit.train(config), task


def test_a_trained_run_keeps_its_labels_and_translates(tiny_run):
    run_dir, _ = tiny_run
    model = gankit.load(run_dir)
    assert model.config.attrs == ATTRS and model.config.exclusive == [["Red", "Green", "Blue"]]
    assert dataclasses.asdict(model.config)["block_sizes"] == [5]
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    labels = model.with_change(model.own_labels(images), "Red", True)
    out = model.translate(images, labels=labels)
    assert out.shape == (3, 3, 16, 16) and out.abs().max() <= 1
    assert torch.equal(out, model.translate(images, labels=labels))
    assert (run_dir / "samples" / "step-000003.png").is_file()


def test_evaluation_scores_every_attribute(tiny_run, monkeypatch):
    monkeypatch.setattr(attributes, "CLASSIFIER_STEPS", 3)
    run_dir, _ = tiny_run
    results = gankit.metrics.evaluate(str(run_dir), n=20)
    for name in ATTRS:
        assert 0 <= results[f"accuracy_{name}"] <= 1
        assert 0 <= results[f"kept_{name}"] <= 1
    assert results["identity_kept"] == 1.0 and results["n"] == 9  # a tenth of 90 held out
    assert results["accuracy"] == pytest.approx(sum(results[f"accuracy_{a}"] for a in ATTRS) / 5)
    assert 0 <= results["identity_accuracy_Bold"] <= 1 and "classifier_accuracy_Bold" in results
    assert (run_dir / "attribute-classifiers" / "Red_Green_Blue.safetensors").is_file()
