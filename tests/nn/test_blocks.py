import pytest
import torch

from gankit.nn.blocks import MinibatchStd


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
