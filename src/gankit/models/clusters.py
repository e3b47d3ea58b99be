"""Conditioning an unconditional GAN on clusters of its training data.

K-means of the training images (their pixels, pooled to a coarse grid) is found once before
training, in about a second, without labels or a pretrained network. G and D are then conditioned
on the cluster (D sees a real image's own cluster; the fakes of a batch take the clusters of its
real images), and sampling draws clusters in proportion to their share of the data. This is in
the spirit of Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs" (CVPR), with
clusters of the data itself rather than of D's features: the data splits into modes that G and D
learn apart, which measured far better FIDs on a fixed budget (see the dcgan and stylegan presets).

`ClusterConditioned` is the mixin both noise-to-image families use: it keeps the centres and the
shares as buffers (saved with the model, so a loaded run samples the same way).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from scipy.cluster.vq import kmeans2
from torch import Tensor, nn


def cluster_pool(image_size: int) -> int:
    """The side the images are pooled to before clustering: coarse shapes, not texture."""
    return max(1, min(8, image_size // 4))


def cluster_features(images: Tensor, image_size: int) -> Tensor:
    """Images (uint8 or [-1, 1] floats, (N, C, H, W)) as pooled pixel vectors in [-1, 1]."""
    if images.dtype == torch.uint8:
        images = images.float() / 127.5 - 1
    return F.adaptive_avg_pool2d(images.float(), cluster_pool(image_size)).flatten(1)


def nearest(features: Tensor, centres: Tensor) -> Tensor:
    """Index (N,) of each row's nearest centre (squared Euclidean distance)."""
    with torch.autocast(features.device.type, enabled=False):  # bf16 would move boundaries
        distances = (centres * centres).sum(1) - 2 * features.float() @ centres.T
    return distances.argmin(1)


def draw_codes(weights: Tensor, n: int, seed: int | None, device: torch.device) -> Tensor:
    """n class indices drawn with the given weights: from the global RNG, or from `seed`
    without touching it."""
    draw = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.multinomial(weights.cpu().float(), n, True, generator=draw).to(device)


class ClusterConditioned(nn.Module):
    """Mixin for a GANModel with `config.clusters` (K > 0: conditioned on K data clusters) and
    `config.image_size` / `config.channels`. Call `init_clusters()` in `__init__`."""

    config: object

    def init_clusters(self) -> None:
        """Buffers for the centres and shares, filled by `fit_data` (or a checkpoint)."""
        if self.config.clusters:
            k, size = self.config.clusters, cluster_pool(self.config.image_size)
            self.register_buffer("centroids", torch.zeros(k, self.config.channels * size**2))
            self.register_buffer("cluster_share", torch.full((k,), 1 / k))

    def fit_data(self, dataset: object, seed: int) -> None:
        """With `model.clusters`: k-means of the training images (pooled pixels), the clusters'
        centres and their shares of the data."""
        if not self.config.clusters:
            return
        features = cluster_features(dataset.images, self.config.image_size).double().numpy()
        k = min(self.config.clusters, len(features))  # a tiny dataset: one cluster per image
        with warnings.catch_warnings():  # an empty cluster is harmless: it is never drawn
            warnings.simplefilter("ignore")
            centres, assigned = kmeans2(features, k, minit="++", seed=seed)
        share = torch.bincount(torch.from_numpy(assigned), minlength=self.config.clusters)
        self.centroids.fill_(1e6)  # clusters beyond k: never the nearest, never drawn
        self.centroids[:k].copy_(torch.from_numpy(centres))
        self.cluster_share.copy_(share / share.sum())

    def clusters_of(self, images: Tensor) -> Tensor:
        """The cluster (N,) of each image (uint8 or [-1, 1])."""
        return nearest(cluster_features(images, self.config.image_size), self.centroids)

    def draw_clusters(self, n: int, seed: int | None, device: torch.device) -> Tensor:
        """n clusters in proportion to their share of the data; reproducibly for the samples
        of `seed`, from seed + 2 so as not to repeat the stream of their z's."""
        return draw_codes(self.cluster_share, n, None if seed is None else seed + 2, device)
