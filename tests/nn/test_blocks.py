import pytest
import torch

from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.gan import NoiseGANConfig
from gankit.nn.blocks import ConditionalHead, MinibatchStd, flat_features, is_channels_last


def test_minibatch_std_appends_the_group_spread_as_a_plane():
    features = torch.randn(8, 3, 2, 2)
    out = MinibatchStd(group=4)(features)
    assert out.shape == (8, 4, 2, 2)
    assert torch.equal(out[:, :3], features)  # the features pass through untouched
    # Samples j, j + 2, j + 4, j + 6 form group j: its spread is one number, on every pixel.
    grouped = features.view(4, 2, 3, 2, 2)
    expected = grouped.std(0, unbiased=False).mean(dim=(1, 2, 3))
    for j in range(2):
        for member in range(j, 8, 2):
            assert out[member, 3] == pytest.approx(torch.full((2, 2), expected[j].item()), abs=1e-5)


def test_minibatch_std_tells_identical_samples_from_varied_ones():
    same = torch.randn(1, 5, 3, 3).expand(4, -1, -1, -1)
    assert MinibatchStd(4)(same)[:, -1].abs().max() < 1e-3  # no spread (up to the epsilon)
    assert MinibatchStd(4)(torch.randn(4, 5, 3, 3))[:, -1].min() > 0.3
    assert MinibatchStd(4)(torch.randn(6, 5, 3, 3)).shape == (6, 6, 3, 3)  # 6 % 4: one group


def test_flat_features_is_nn_flatten_in_either_memory_layout():
    features = torch.randn(3, 4, 2, 5)
    weight = torch.randn(6, 4 * 2 * 5)
    expected = features.flatten(1) @ weight.t()
    for layout in (torch.contiguous_format, torch.channels_last):
        flat, order = flat_features(features.contiguous(memory_format=layout))
        assert torch.allclose(flat @ order(weight).t(), expected, atol=1e-5)
    nhwc = features.contiguous(memory_format=torch.channels_last)
    assert flat_features(nhwc)[0].data_ptr() == nhwc.data_ptr()  # a view: nothing copied
    plain = torch.randn(3, 7)
    assert torch.equal(flat_features(plain)[0], plain)


@pytest.mark.parametrize("labels", [0, 10])
def test_conditional_head_gives_the_same_logits_and_an_nhwc_gradient(labels):
    torch.manual_seed(0)
    head = ConditionalHead(8 * 3 * 3, num_classes=labels, classes=5)
    features = torch.randn(4, 8, 3, 3)
    y = torch.randint(labels, (4,)) if labels else None
    nhwc = features.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.allclose(head(nhwc, y), head(features.flatten(1), y), atol=1e-5)
    logits, classes = head(nhwc, y, classify=True)
    assert torch.allclose(logits, head(nhwc, y), atol=1e-6)
    assert torch.allclose(classes, head(features.flatten(1), y, True)[1], atol=1e-5)
    head(nhwc, y).sum().backward()
    assert is_channels_last(nhwc.grad)  # the layers below see one layout only


def test_dcgan_nets_compute_the_same_function_in_nhwc():
    torch.manual_seed(0)
    config = NoiseGANConfig(
        arch="dcgan", image_size=32, channels=3, conditional=True, num_classes=4
    )
    generator, discriminator = DCGANGenerator(config), DCGANDiscriminator(config)
    z, labels = torch.randn(5, config.z_dim), torch.randint(4, (5,))
    images = torch.randn(5, 3, 32, 32)
    expected = generator(z, labels), discriminator(images, labels)
    generator.to(memory_format=torch.channels_last)
    discriminator.to(memory_format=torch.channels_last)
    fake = generator(z, labels)
    assert is_channels_last(fake)
    assert torch.allclose(fake, expected[0], atol=1e-5)
    nhwc = images.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(discriminator(nhwc, labels), expected[1], rtol=1e-5, atol=1e-4)


def test_projection_head_reads_each_samples_own_class():
    # Miyato & Koyama 2018, Eq. 3: linear(features) + <embed(y), features>, and the classifier.
    torch.manual_seed(0)
    head = ConditionalHead(6, num_classes=4, classes=3)
    features, labels = torch.randn(5, 6), torch.tensor([3, 0, 2, 2, 1])
    expected = head.linear(features)[:, 0] + (head.embedding(labels) * features).sum(1)
    logits, classes = head(features, labels, classify=True)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(head(features, labels), expected)
    torch.testing.assert_close(classes, head.classifier(features))
    with pytest.raises(ValueError, match="no auxiliary classifier"):
        ConditionalHead(6, num_classes=4)(features, labels, classify=True)
