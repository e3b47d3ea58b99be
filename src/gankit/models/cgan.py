"""Conditional GAN: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets".

Both networks see the class label y (Eq. 2: min_G max_D E log D(x|y) + E log(1 - D(G(z|y)))). The
generator gets y one-hot, concatenated to z (Sec. 3.2). The discriminator gets y either as extra
input ("concat", the paper's choice; one-hot planes for conv nets) or by projection onto its last
features ("projection", Miyato & Koyama 2018), which gankit's default uses because the requested
class comes out far more reliably at the same budget. The conditioning layers live in
gankit.nn.blocks, shared by the mlp and dcgan architectures; this module holds the presets.
"""

from gankit.models.dcgan import FAST, FAST_WHY, PAPER_TRAIN
from gankit.models.registry import Preset, register_preset

MIRZA = "Mirza & Osindero 2014, Conditional Generative Adversarial Nets (arXiv:1411.1784)"

register_preset(
    Preset(
        "cgan",
        "noise-gan",
        MIRZA,
        "class-conditional DCGAN nets, projection discriminator, gankit's fast recipe",
        model={"arch": "dcgan", "conditional": True, "conditioning": "projection"},
        train=FAST,
        why=FAST_WHY + " Projection conditioning in D (Miyato & Koyama 2018).",
    )
)
register_preset(
    Preset(
        "cgan-paper",
        "noise-gan",
        MIRZA,
        "the paper's MLP nets with y concatenated to the inputs of G and D",
        model={"arch": "mlp", "conditional": True, "conditioning": "concat", "reuse_fakes": False},
        train={**PAPER_TRAIN, "lr": 2e-4, "beta1": 0.5},
        why="Adam(2e-4, 0.5) and ReLU/LeakyReLU instead of SGD with maxout units and dropout.",
    )
)
