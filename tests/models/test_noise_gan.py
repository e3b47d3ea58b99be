"""NoiseGAN's auxiliary classifier: AC-GAN on real labels, InfoGAN on latent codes."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import three_shapes

from gankit.models.gan import NoiseGAN, NoiseGANConfig


def model(**overrides) -> NoiseGAN:
    torch.manual_seed(0)
    config = NoiseGANConfig(z_dim=8, image_size=16, channels=1, width=4, d_norm="none")
    for key, value in overrides.items():
        setattr(config, key, value)
    return NoiseGAN(config)


def batch(n: int = 12, classes: int = 3) -> dict:
    torch.manual_seed(1)
    return {"image": torch.rand(n, 1, 16, 16) * 2 - 1, "label": torch.arange(n) % classes}


def test_ac_gan_classifies_real_labels_for_d_and_fakes_for_g():
    gan = model(conditional=True, num_classes=3, class_weight=0.5)
    data = batch()
    losses = gan.discriminator_loss(data, 0)
    _, real_classes = gan.discriminator(data["image"], data["label"], classify=True)
    assert real_classes.shape == (12, 3)
    assert torch.allclose(losses["class_d"], F.cross_entropy(real_classes, data["label"]))
    fake, labels, codes = gan._fakes
    assert torch.equal(codes, data["label"])  # the fakes are asked for the batch's classes
    _, fake_classes = gan.discriminator(fake, labels, classify=True)
    g_losses = gan.generator_loss(data, 0)
    assert torch.allclose(g_losses["class_g"], F.cross_entropy(fake_classes, labels))
    assert torch.allclose(g_losses["loss"], g_losses["loss_g"] + 0.5 * g_losses["class_g"])


@pytest.mark.parametrize(
    "overrides, joint",
    [
        ({"d_norm": "none"}, True),
        ({"d_norm": "layer"}, True),
        ({"d_norm": "batch"}, False),
        ({"d_norm": "none", "minibatch_std": 4}, False),
        ({"arch": "mlp"}, True),
    ],
)
def test_real_and_fakes_share_one_d_forward_only_when_d_keeps_samples_apart(overrides, joint):
    gan = model(**overrides)
    assert gan.joint_judge is joint
    sizes = []
    gan.discriminator.register_forward_hook(lambda module, args, out: sizes.append(len(args[0])))
    data = batch()
    losses = gan.discriminator_loss(data, 0)
    assert sizes == ([24] if joint else [12, 12])
    # Either way the loss is that of D on each batch by itself (batch norm: each batch's stats).
    real, fake = gan.discriminator(data["image"]), gan.discriminator(gan._fakes[0].detach())
    assert torch.allclose(losses["loss_d"], gan.adversarial.discriminator(real, fake), atol=1e-6)
    # (the logits of these freshly initialised nets are ~1e-5: compared relative to their size)
    for value, logits in ((losses["d_real"], real), (losses["d_fake"], fake)):
        scale = logits.abs().max().item()
        assert torch.allclose(value, logits.mean(), rtol=1e-4, atol=1e-3 * scale)


def test_info_gan_code_is_learned_from_the_fakes():
    gan = model(latent_classes=4, class_weight=1.0)
    assert gan.num_classes == 0 and gan.generator.num_classes == 4
    data = batch()
    losses = gan.discriminator_loss(data, 0)
    fake, labels, codes = gan._fakes
    assert labels is None and codes.shape == (12,) and codes.min() >= 0 and codes.max() < 4
    _, fake_classes = gan.discriminator(fake.detach(), None, classify=True)
    assert torch.allclose(losses["class_d"], F.cross_entropy(fake_classes, codes))
    # The samples' codes come from the seed: same seed, same images; another seed, others.
    assert torch.equal(gan.sample(5, seed=3), gan.sample(5, seed=3))
    assert not torch.equal(gan.sample(5, seed=3), gan.sample(5, seed=4))


def test_info_gan_code_becomes_recognisable():
    """A few dozen updates make D's Q head tell the generator's codes apart (loss < log 4)."""
    gan = model(latent_classes=4, class_weight=1.0)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-3, betas=(0.5, 0.99))
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=2e-3, betas=(0.5, 0.99))
    data = batch(32)
    for step in range(60):
        losses = gan.discriminator_loss(data, step)
        d_opt.zero_grad()
        losses["loss"].backward()
        d_opt.step()
        g_losses = gan.generator_loss(data, step)
        g_opt.zero_grad()
        g_losses["loss"].backward()
        g_opt.step()
    assert g_losses["class_g"].item() < 0.5 * math.log(4)


def test_clusters_are_the_data_modes_and_condition_d_and_g():
    gan = model(clusters=3, class_weight=1.0)
    assert gan.num_classes == 0  # no labels to ask for: the clusters are internal
    assert gan.generator.num_classes == 3 and gan.discriminator.num_classes == 3
    data = three_shapes()
    gan.fit_data(data, seed=0)
    assert sorted(gan.cluster_share.tolist()) == [0.25, 0.25, 0.5]
    images = data.batch(torch.arange(len(data)))["image"]
    clusters = gan._labels({"image": images})
    # Each mode is one cluster, and different modes are different clusters.
    assert [len(set(clusters[i : i + 20].tolist())) for i in (0, 20, 40, 60)] == [1, 1, 1, 1]
    assert len(set(clusters[[0, 20, 60]].tolist())) == 3
    assert clusters[20] == clusters[40]
    # D's auxiliary head learns the real images' clusters; G's fakes are asked for the same.
    losses = gan.discriminator_loss({"image": images[:12]}, 0)
    _, real_classes = gan.discriminator(images[:12], clusters[:12], classify=True)
    assert torch.allclose(losses["class_d"], F.cross_entropy(real_classes, clusters[:12]))
    assert torch.equal(gan._fakes[2], clusters[:12])


def test_cluster_samples_follow_the_data_shares_and_the_seed():
    gan = model(clusters=3)
    gan.fit_data(three_shapes(), seed=0)
    big = gan.cluster_share.argmax().item()
    draws = []
    gan.generator = _recording(gan.generator, draws)
    gan.sample(2000, seed=5)
    share = (draws[0] == big).float().mean().item()
    assert abs(share - 0.5) < 0.05
    assert torch.equal(gan.sample(4, seed=1), gan.sample(4, seed=1))


def _recording(network, draws: list):
    """`network` that also records the codes it is given."""

    def forward(z, codes):
        draws.append(codes)
        return original(z, codes)

    original = network.forward
    network.forward = forward
    return network


def test_fewer_images_than_clusters_uses_one_cluster_per_image():
    gan = model(clusters=8)
    data = three_shapes(1)  # 4 images, 3 distinct
    gan.fit_data(data, seed=0)
    assert gan.cluster_share[4:].sum() == 0 and torch.isclose(
        gan.cluster_share.sum(), torch.tensor(1.0)
    )
    clusters = gan._labels({"image": data.batch(torch.arange(4))["image"]})
    assert clusters.max() < 4


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("clusters", -1, "model.clusters must be 0 (off) or positive, got -1"),
        ("width", 0, "model.width must be positive, got 0"),
        ("gp_every", 0, "model.gp_every must be positive, got 0"),
        ("d_width", -4, "model.d_width must be 0 (off) or positive, got -4"),
        ("minibatch_std", -1, "model.minibatch_std must be 0 (off) or positive"),
        ("latent_classes", -2, "model.latent_classes must be 0 (off) or positive"),
        ("gp_weight", math.nan, "model.gp_weight must be 0 or positive, got nan"),
        ("clip", -0.01, "model.clip must be 0 or positive"),
        ("class_weight", -1.0, "model.class_weight must be 0 or positive"),
    ],
)
def test_values_the_nets_or_losses_cannot_use_are_refused(key, value, message):
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match=re.escape(message)):
        model(**{key: value})
