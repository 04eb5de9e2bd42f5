"""Inception-v4 and Inception-ResNet-v1/v2. Szegedy, Ioffe, Vanhoucke, Alemi: "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning" (arXiv 1602.07261).

What the paper defines, and how it maps onto this file:

* Every network is a stem, then a number of Inception-A modules on the 35x35 grid, Reduction-A
  (35 -> 17), Inception-B modules on 17x17, Reduction-B (17 -> 8), Inception-C modules on 8x8,
  global average pooling, dropout (keep 0.8) and a linear classifier (Figures 9 and 15).
  ``ARCHITECTURES`` holds each network as data: its stem, its three module types with their
  counts (``depths``) and its two reduction modules. Each module is written out as its figure
  draws it: named parallel branches (``Branches``), each a sequence of ``Conv`` and ``Pool``
  steps, concatenated. A ``Conv`` with ``V`` is the figures' valid-padded convolution; every other
  convolution is same-padded (Sec. 3). Every convolution is followed by batch norm and a ReLU.
* Inception-v4 (Figure 9): the stem of Figure 3 (299x299x3 -> 35x35x384), 4 x Inception-A
  (Figure 4), Reduction-A (Figure 7 with Table 1's k, l, m, n = 192, 224, 256, 384), 7 x
  Inception-B (Figure 5), Reduction-B (Figure 8), 3 x Inception-C (Figure 6) -> 1536 features.
* Inception-ResNet (Figure 15, both versions): 5 x Inception-ResNet-A, Reduction-A, 10 x
  Inception-ResNet-B, Reduction-B, 5 x Inception-ResNet-C. Each residual module concatenates its
  branches, projects them back to the input width with a linear 1x1 convolution, scales the
  result (Sec. 3.3, Figure 20) and adds it to the input, then applies a ReLU.
  - v1: the stem of Figure 14 (-> 35x35x256), modules of Figures 10, 11, 13, Reduction-A with
    k, l, m, n = 192, 192, 256, 384, Reduction-B of Figure 12 -> 1792 features.
  - v2: the stem of Figure 3 (-> 384), modules of Figures 16, 17, 19, Reduction-A with
    k, l, m, n = 256, 256, 384, 384, Reduction-B of Figure 18.
* Residual scaling (Sec. 3.3): "we picked some scaling factors between 0.1 and 0.3"; the paper
  gives no per-module values. ``residual_scale`` is an option (one value, or one per module type
  A/B/C); the default is (0.17, 0.10, 0.20), the values the authors' TF-slim release uses, which
  lie in the paper's range. 1.0 turns scaling off.

Where the paper leaves something open, or cannot be followed literally:

* Inception-ResNet-v2's widths: Figure 17 prints 1154 for the Inception-ResNet-B modules and
  Figure 19 prints 2048 for Inception-ResNet-C, but a residual module's output width is its input
  width, and the modules before them produce 1152 (Reduction-A: 384 + 384 + 384) and 2144
  (Reduction-B: 1152 + 384 + 288 + 320). Those are the widths used; the linear 1x1 projection of
  each residual module is sized from its input, so the printed figures cannot be met by any
  network that has the figures' branches.
* The figures do not say whether the linear 1x1 projection of a residual module is batch
  normalised; Sec. 3.3 says batch norm was used "only on top of the traditional layers, but not
  on top of the summations". As in the authors' release, it is a plain convolution with a bias.
* Batch norm epsilon 0.001 and average pooling that excludes the padding, as in the authors'
  TensorFlow release (the paper gives neither).
* The order of branches in a concatenation: the figures draw branches side by side without a
  defined order; the order here is the release's, so that both layouts share their names and a
  released checkpoint maps onto them branch by branch. Reordering branches permutes channels and
  changes nothing else.
* The orientation of factorised convolutions is read from the figures (which are images): Figure
  3 draws the stem's 7x7 branch as 7x1 then 1x7, Figure 5 the long Inception-B branch as 1x7,
  7x1, 1x7, 7x1, and Figure 6 the long Inception-C branch as 1x3 then 3x1. ``n x m`` means n rows
  by m columns (a kernel of height n), as in the TF-slim code (``[7, 1]`` = 7x1).

The authors' releases (TF-slim; timm ports them, and their checkpoints load into the ``_tf``
models here via :func:`from_timm`):

* ``inception_v4_tf``: the paper's Inception-v4 except that the three factorised chains above run
  in the other orientation (stem: 1x7 then 7x1; Inception-B long branch: 7x1, 1x7, 7x1, 1x7;
  Inception-C long branch: 3x1 then 1x3). Same parameters and mult-adds (42,679,816; 12.254 G).
* ``inception_resnet_v2_tf`` (the "new" Inception-ResNet-v2 of the release, which its
  maintainers describe as what the authors intended) differs from Figure 15 in:
  stem: the Inception-ResNet-v1 stem (Figure 14) up to the 3x3 conv 192, then a 3x3/2 max pool and
  an Inception-v3-style module with a 5x5 branch (96 + 64 + 96 + 64 = 320 channels) instead of
  Figure 3's (384 channels); module counts 10 x A, 20 x B, 10 x C instead of 5, 10, 5; widths
  320 / 1088 / 2080 instead of 384 / 1152 / 2144; the last Inception-ResNet-C module is unscaled
  and has no ReLU; a 1x1 conv to 1536 channels (with BN and ReLU) before pooling. The modules'
  branches (Figures 16-19), Reduction-A's k, l, m, n and the scales 0.17 / 0.10 / 0.20 agree.
  55,843,464 parameters, 13.156 G mult-adds.

Squeeze-and-excitation (SENet, Hu et al., arXiv 1709.01507), the option ``se=SEConfig()`` on
every network here:

* Inception-ResNet: SENet Sec. 4 integrates SE with residual networks by taking F_tr to be the
  residual (non-identity) branch, squeeze and excitation acting before the summation with the
  identity, and builds SE-Inception-ResNet-v2 "by following similar schemes". So the SE block
  recalibrates each residual module's branch after its linear 1x1 projection, before the residual
  scaling and the addition: ``relu(x + scale * se(up(concat(branches(x)))))``. Reduction-A/B and
  the stem, which have no identity path, get none (as SE-ResNet's SE sits in residual blocks only).
* Inception-v4: SE on the output of every Inception module, after the concatenation (SENet Fig. 2,
  the SE-Inception module), the two reduction modules included; the stem gets none.

``se_inception_resnet_v2`` (SENet Table 2) is the paper's ``inception_resnet_v2`` (Figure 15) with
SE: 37,083,598 parameters and 9.263 G mult-adds. SENet prints 11.76 GFLOPs for it and 11.75 for
its own re-implementation of Inception-ResNet-v2, which matches neither Figure 15 (9.258 G) nor the
TF-slim release (13.156 G; ``inception_resnet_v2_tf(se=SEConfig())`` is 13.164 G) and which the
paper does not describe; the difference lies in the base network (SE itself adds 0.005 G here,
0.01 G in the paper), so it is an accepted deviation of the registered figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import torch
from torch import Tensor, nn

from ..layers import ClassifierHead, ConcatBranches, ConvNormAct, SEConfig, init_weights
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout, remap_keys
from .registry import register_model
from .specs import INCEPTION_V4_PAPER as PAPER
from .specs import SENET_PAPER, ErrorFigure, PaperFigures, imagenet_error

#: Batch norm epsilon of the authors' TensorFlow models.
BN_EPS = 1e-3

# -- the figures as data -----------------------------------------------------------------------

Padding = Literal["same", "valid"]
SAME: Padding = "same"
V: Padding = "valid"  # the figures' "V"


@dataclass(frozen=True)
class Conv:
    """One box of a figure: ``Conv(96, 3, 2, V)`` is "3x3 Conv (96 stride 2 V)".

    Followed by batch norm and a ReLU. ``kernel`` is (height, width) or one int for square.
    """

    out: int
    kernel: int | tuple[int, int] = 1
    stride: int = 1
    padding: Padding = SAME


@dataclass(frozen=True)
class Pool:
    """A 3x3 pooling box: max pool stride 2 V (reductions) or average pool stride 1 (same)."""

    kind: Literal["max", "avg"]
    stride: int
    padding: Padding


MAX_POOL = Pool("max", 2, V)  # "3x3 MaxPool (stride 2 V)"
AVG_POOL = Pool("avg", 1, SAME)  # "Avg Pooling"

Step: TypeAlias = "Conv | Pool | Branches"
Ops: TypeAlias = tuple[Step, ...]
#: Parallel branches, concatenated along channels ("Filter concat"), in this order.
Branches: TypeAlias = Mapping[str, Ops]


# Figure 3: the stem of Inception-v4 and Inception-ResNet-v2, in three stages (/2, /4, /8).
STEM_V4: tuple[Ops, Ops, Ops] = (
    (Conv(32, 3, 2, V), Conv(32, 3, 1, V), Conv(64, 3)),  # 147x147x64
    ({"pool": (MAX_POOL,), "conv": (Conv(96, 3, 2, V),)},),  # 73x73x160
    (
        {
            "b3x3": (Conv(64, 1), Conv(96, 3, 1, V)),
            "b7x7": (Conv(64, 1), Conv(64, (7, 1)), Conv(64, (1, 7)), Conv(96, 3, 1, V)),
        },  # 71x71x192
        {"conv": (Conv(192, 3, 2, V),), "pool": (MAX_POOL,)},  # 35x35x384
    ),
)

# Figure 14: the stem of Inception-ResNet-v1. As in Figure 3, the /4 stage ends on the 73x73
# grid; the unpadded 3x3 that shrinks it to 71x71 starts the /8 stage.
STEM_RESNET_V1: tuple[Ops, Ops, Ops] = (
    STEM_V4[0],  # 147x147x64
    (MAX_POOL, Conv(80, 1)),  # 73x73x80
    (Conv(192, 3, 1, V), Conv(256, 3, 2, V)),  # 71x71x192, 35x35x256
)

# Figure 4: Inception-A (35x35).
INCEPTION_A: Branches = {
    "b1x1": (Conv(96, 1),),
    "b3x3": (Conv(64, 1), Conv(96, 3)),
    "b3x3dbl": (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
    "pool_proj": (AVG_POOL, Conv(96, 1)),
}

# Figure 5: Inception-B (17x17).
INCEPTION_B: Branches = {
    "b1x1": (Conv(384, 1),),
    "b7x7": (Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))),
    "b7x7dbl": (
        Conv(192, 1),
        Conv(192, (1, 7)),
        Conv(224, (7, 1)),
        Conv(224, (1, 7)),
        Conv(256, (7, 1)),
    ),
    "pool_proj": (AVG_POOL, Conv(128, 1)),
}


def _split_1x3_3x1(out: int) -> Branches:
    """Figure 6's split: a 1x3 and a 3x1 convolution on the same input, concatenated."""
    return {"b1x3": (Conv(out, (1, 3)),), "b3x1": (Conv(out, (3, 1)),)}


# Figure 6: Inception-C (8x8).
INCEPTION_C: Branches = {
    "b1x1": (Conv(256, 1),),
    "b3x3": (Conv(384, 1), _split_1x3_3x1(256)),
    "b3x3dbl": (Conv(384, 1), Conv(448, (1, 3)), Conv(512, (3, 1)), _split_1x3_3x1(256)),
    "pool_proj": (AVG_POOL, Conv(256, 1)),
}

# Table 1: the filter-bank sizes k, l, m, n of Reduction-A in each network.
REDUCTION_A_FILTERS: dict[str, tuple[int, int, int, int]] = {
    "inception_v4": (192, 224, 256, 384),
    "inception_resnet_v1": (192, 192, 256, 384),
    "inception_resnet_v2": (256, 256, 384, 384),
}


def reduction_a(k: int, l: int, m: int, n: int) -> Branches:  # noqa: E741 (the paper's names)
    """Figure 7: Reduction-A (35x35 -> 17x17) with Table 1's filter-bank sizes."""
    return {
        "b3x3": (Conv(n, 3, 2, V),),
        "b3x3dbl": (Conv(k, 1), Conv(l, 3), Conv(m, 3, 2, V)),
        "pool": (MAX_POOL,),
    }


# Figure 8: Reduction-B of Inception-v4 (17x17 -> 8x8).
REDUCTION_B_V4: Branches = {
    "b3x3": (Conv(192, 1), Conv(192, 3, 2, V)),
    "b7x7_3x3": (Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, 2, V)),
    "pool": (MAX_POOL,),
}


def _reduction_b_resnet(a: int, b: int, c: tuple[int, int]) -> Branches:
    """Figures 12 and 18: Reduction-B of the Inception-ResNets; three 1x1 (256) -> 3x3/2 towers."""
    return {
        "b3x3a": (Conv(256, 1), Conv(a, 3, 2, V)),
        "b3x3b": (Conv(256, 1), Conv(b, 3, 2, V)),
        "b3x3dbl": (Conv(256, 1), Conv(c[0], 3), Conv(c[1], 3, 2, V)),
        "pool": (MAX_POOL,),
    }


REDUCTION_B_RESNET_V1 = _reduction_b_resnet(384, 256, (256, 256))  # Figure 12
REDUCTION_B_RESNET_V2 = _reduction_b_resnet(384, 288, (288, 320))  # Figure 18

# Inception-ResNet modules: the branches before the linear 1x1 projection back to the input width.
RESNET_V1_A: Branches = {  # Figure 10
    "b1x1": (Conv(32, 1),),
    "b3x3": (Conv(32, 1), Conv(32, 3)),
    "b3x3dbl": (Conv(32, 1), Conv(32, 3), Conv(32, 3)),
}
RESNET_V1_B: Branches = {  # Figure 11
    "b1x1": (Conv(128, 1),),
    "b7x7": (Conv(128, 1), Conv(128, (1, 7)), Conv(128, (7, 1))),
}
RESNET_V1_C: Branches = {  # Figure 13
    "b1x1": (Conv(192, 1),),
    "b3x3": (Conv(192, 1), Conv(192, (1, 3)), Conv(192, (3, 1))),
}
RESNET_V2_A: Branches = {  # Figure 16
    "b1x1": (Conv(32, 1),),
    "b3x3": (Conv(32, 1), Conv(32, 3)),
    "b3x3dbl": (Conv(32, 1), Conv(48, 3), Conv(64, 3)),
}
RESNET_V2_B: Branches = {  # Figure 17
    "b1x1": (Conv(192, 1),),
    "b7x7": (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1))),
}
RESNET_V2_C: Branches = {  # Figure 19
    "b1x1": (Conv(192, 1),),
    "b3x3": (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1))),
}

# -- the authors' TF-slim releases: only what differs from the figures ---------------------------

STEM_V4_TF: tuple[Ops, Ops, Ops] = (
    STEM_V4[0],
    STEM_V4[1],
    (
        {
            "b3x3": STEM_V4[2][0]["b3x3"],  # type: ignore[index]
            "b7x7": (Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, 1, V)),
        },
        STEM_V4[2][1],
    ),
)
INCEPTION_B_TF: Branches = {
    **INCEPTION_B,
    "b7x7dbl": (
        Conv(192, 1),
        Conv(192, (7, 1)),
        Conv(224, (1, 7)),
        Conv(224, (7, 1)),
        Conv(256, (1, 7)),
    ),
}
INCEPTION_C_TF: Branches = {
    **INCEPTION_C,
    "b3x3dbl": (Conv(384, 1), Conv(448, (3, 1)), Conv(512, (1, 3)), _split_1x3_3x1(256)),
}
# The release's Inception-ResNet-v2 stem: Figure 14 up to the 3x3 conv 192, then a max pool and
# an Inception-v3-style 35x35 module (with a 5x5 branch) of 96 + 64 + 96 + 64 = 320 channels.
STEM_RESNET_V2_TF: tuple[Ops, Ops, Ops] = (
    STEM_V4[0],
    STEM_RESNET_V1[1],
    (
        Conv(192, 3, 1, V),
        MAX_POOL,
        {
            "b1x1": (Conv(96, 1),),
            "b5x5": (Conv(48, 1), Conv(64, 5)),
            "b3x3dbl": (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
            "pool_proj": (AVG_POOL, Conv(64, 1)),
        },
    ),
)


@dataclass(frozen=True)
class Architecture:
    """One network of the paper (Figures 9 and 15) as data."""

    residual: bool  # Inception-ResNet modules (Figures 10-20) or plain Inception modules
    stem: tuple[Ops, Ops, Ops]  # three stages, ending at /2, /4 and /8
    modules: tuple[Branches, Branches, Branches]  # A (35x35), B (17x17), C (8x8)
    depths: tuple[int, int, int]  # how many of each
    reduction_a: Branches
    reduction_b: Branches
    # Only the release of Inception-ResNet-v2 has these two:
    last_module_plain: bool = False  # the last C module unscaled and without ReLU
    final_conv: int | None = None  # a 1x1 conv before global pooling

    @property
    def min_input_size(self) -> int:
        """The smallest input that leaves one pixel after the stem and both reductions."""
        return min_input_size((*self.stem[0], *self.stem[1], *self.stem[2], self.reduction_a,
                               self.reduction_b))  # fmt: skip


ARCHITECTURES: dict[str, Architecture] = {
    # Figure 9: 4 x A, 7 x B, 3 x C.
    "inception_v4": Architecture(
        residual=False,
        stem=STEM_V4,
        modules=(INCEPTION_A, INCEPTION_B, INCEPTION_C),
        depths=(4, 7, 3),
        reduction_a=reduction_a(*REDUCTION_A_FILTERS["inception_v4"]),
        reduction_b=REDUCTION_B_V4,
    ),
    "inception_v4_tf": Architecture(
        residual=False,
        stem=STEM_V4_TF,
        modules=(INCEPTION_A, INCEPTION_B_TF, INCEPTION_C_TF),
        depths=(4, 7, 3),
        reduction_a=reduction_a(*REDUCTION_A_FILTERS["inception_v4"]),
        reduction_b=REDUCTION_B_V4,
    ),
    # Figure 15: 5 x A, 10 x B, 5 x C.
    "inception_resnet_v1": Architecture(
        residual=True,
        stem=STEM_RESNET_V1,
        modules=(RESNET_V1_A, RESNET_V1_B, RESNET_V1_C),
        depths=(5, 10, 5),
        reduction_a=reduction_a(*REDUCTION_A_FILTERS["inception_resnet_v1"]),
        reduction_b=REDUCTION_B_RESNET_V1,
    ),
    "inception_resnet_v2": Architecture(
        residual=True,
        stem=STEM_V4,
        modules=(RESNET_V2_A, RESNET_V2_B, RESNET_V2_C),
        depths=(5, 10, 5),
        reduction_a=reduction_a(*REDUCTION_A_FILTERS["inception_resnet_v2"]),
        reduction_b=REDUCTION_B_RESNET_V2,
    ),
    "inception_resnet_v2_tf": Architecture(
        residual=True,
        stem=STEM_RESNET_V2_TF,
        modules=(RESNET_V2_A, RESNET_V2_B, RESNET_V2_C),
        depths=(10, 20, 10),
        reduction_a=reduction_a(*REDUCTION_A_FILTERS["inception_resnet_v2"]),
        reduction_b=REDUCTION_B_RESNET_V2,
        last_module_plain=True,
        final_conv=1536,
    ),
}

#: Residual scales of the A, B and C modules in the authors' release (paper: "between 0.1 and 0.3").
RESIDUAL_SCALES = (0.17, 0.10, 0.20)


# -- the paper's figures, one entry per registered model -------------------------------------------

_SINGLE_CROP = "single crop, single model"
_V4_VAL = "ImageNet val (non-blacklisted subset)"


FIGURES: dict[str, PaperFigures] = {
    "inception_v4": PaperFigures(
        source="I4 Figures 3-9, Table 1, Table 2",
        ref_params=42_679_816,
        ref_gmacs=12.254,
        ref_source="computed from Figures 3-9; equals timm inception_v4, whose factorised "
        "convolutions differ only in orientation (see inception_v4_tf)",
        errors=(imagenet_error(20.0, 5.0, _SINGLE_CROP, "Table 2", dataset=_V4_VAL),),
        notes="The paper prints neither parameters nor mult-adds for Inception-v4.",
    ),
    "inception_v4_tf": PaperFigures(
        source="TF-slim release (timm inception_v4)",
        ref_params=42_679_816,
        ref_gmacs=12.254,
        ref_source="timm 1.0 inception_v4, counted",
        notes="Three factorised chains run 1xn/nx1 in the other order than the paper's figures "
        "draw them; parameters and mult-adds are the same.",
    ),
    "inception_resnet_v1": PaperFigures(
        source="I4 Figures 7, 10-15, Table 1",
        ref_params=22_756_328,
        ref_gmacs=6.206,
        ref_source="computed from the paper's figures (no public implementation or count "
        "exists to compare with)",
        errors=(
            imagenet_error(
                21.3,
                5.5,
                _SINGLE_CROP + " (transcription unconfirmed: table is an image)",
                "Table 2",
                dataset=_V4_VAL,
            ),
        ),
        notes="The paper prints no parameter or mult-add count; its text says Inception-ResNet-v1 "
        "has 'roughly the computational cost of Inception-v3' (5.7 G in its released form).",
    ),
    "inception_resnet_v2": PaperFigures(
        source="I4 Figures 3, 7, 15-19, Table 1, Table 2",
        ref_params=32_433_928,
        ref_gmacs=9.258,
        ref_source="computed from the paper's figures, with the widths 1152 / 2144 that its "
        "concatenations produce (Figures 17 and 19 print 1154 and 2048)",
        errors=(imagenet_error(19.9, 4.9, _SINGLE_CROP, "Table 2", dataset=_V4_VAL),),
        notes="The paper prints no parameter or mult-add count; it says Inception-ResNet-v2 "
        "matches the raw cost of Inception-v4. The released network is inception_resnet_v2_tf.",
    ),
    "inception_resnet_v2_tf": PaperFigures(
        source="TF-slim release (timm inception_resnet_v2)",
        ref_params=55_843_464,
        ref_gmacs=13.156,
        ref_source="timm 1.0 inception_resnet_v2, counted",
        notes="Differs from Figure 15: another stem (320 channels), 10 x A, 20 x B, 10 x C, "
        "widths 320 / 1088 / 2080, a 1x1 conv to 1536 before pooling. SENet's re-implementation "
        "quotes 11.75 G for Inception-ResNet-v2 (unexplained).",
    ),
    "se_inception_resnet_v2": PaperFigures(
        source="S1 Sec. 4, Table 2",
        paper_macs=11.76e9,
        ref_params=37_083_598,
        ref_gmacs=9.263,
        ref_source="computed: inception_resnet_v2 (I4 Figure 15) + an SE block (r=16) on each of "
        "the 20 residual branches (no torchvision/timm model)",
        errors=(
            ErrorFigure(
                19.80,
                4.79,
                "ImageNet val",
                "single 299x299 center crop (re-implementation)",
                "S1 Table 2",
            ),
        ),
        accepted_deviation="SENet's 11.76 GFLOPs (its Inception-ResNet-v2 re-implementation: "
        "11.75) is not the network of the Inception-v4 paper's Figure 15 (9.258 G) nor the TF-slim "
        "release (13.156 G; with SE 13.164 G); SENet does not describe its base network. The "
        "gap is the base network's: SE adds 0.005 G here, 0.01 G in the paper.",
    ),
}


# -- from data to modules ----------------------------------------------------------------------


def _kernel(k: int | tuple[int, int]) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else k


def build_ops(in_channels: int, ops: Ops, *, bn_eps: float = BN_EPS) -> tuple[nn.Module, int]:
    """The module for a sequence of steps and its output channels.

    One step gives the step's module itself, several an ``nn.Sequential``.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for step in ops:
        if isinstance(step, Conv):
            kh, kw = _kernel(step.kernel)
            padding = (kh // 2, kw // 2) if step.padding == SAME else (0, 0)
            if step.padding == SAME and step.stride != 1:
                raise ValueError(f"{step}: same padding is only defined here for stride 1")
            layers.append(
                ConvNormAct(
                    channels, step.out, (kh, kw), stride=step.stride, padding=padding, bn_eps=bn_eps
                )
            )
            channels = step.out
        elif isinstance(step, Pool):
            pad = 1 if step.padding == SAME else 0
            if step.kind == "max":
                layers.append(nn.MaxPool2d(3, stride=step.stride, padding=pad))
            else:
                # TensorFlow's SAME average pooling divides by the pixels inside the image.
                layers.append(
                    nn.AvgPool2d(3, stride=step.stride, padding=pad, count_include_pad=False)
                )
        else:
            module = InceptionModule(channels, step, bn_eps=bn_eps)
            layers.append(module)
            channels = module.out_channels
    if not layers:
        raise ValueError("a branch needs at least one step")
    return (layers[0] if len(layers) == 1 else nn.Sequential(*layers)), channels


def min_input_size(ops: Ops, out_size: int = 1) -> int:
    """The smallest input height/width for which ``ops`` give at least ``out_size`` pixels."""
    size = out_size
    for step in reversed(ops):
        if isinstance(step, Conv | Pool):
            k = max(_kernel(step.kernel)) if isinstance(step, Conv) else 3
            if step.padding == V:
                size = (size - 1) * step.stride + k
        else:
            size = max(min_input_size(branch, size) for branch in step.values())
    return size


class InceptionModule(ConcatBranches):
    """Parallel branches from a ``Branches`` table, concatenated: a figure of the paper.

    ``InceptionModule(384, INCEPTION_A)`` is Figure 4 (384 -> 384 channels on any grid).
    """

    def __init__(self, in_channels: int, spec: Branches, *, bn_eps: float = BN_EPS) -> None:
        built = {name: build_ops(in_channels, ops, bn_eps=bn_eps) for name, ops in spec.items()}
        super().__init__(**{name: module for name, (module, _) in built.items()})
        self.in_channels = in_channels
        self.out_channels = sum(channels for _, channels in built.values())


class InceptionResNetModule(nn.Module):
    """An Inception-ResNet module (Figures 10-20): ``relu(x + scale * up(concat(branches(x))))``.

    ``up`` is the linear 1x1 convolution back to the input width. ``activate=False`` leaves out
    the final ReLU (the release's last module). ``se`` puts an SE block on the residual after
    ``up``, before the scaling and the addition (SENet): ``relu(x + scale * se(up(...)))``.
    """

    def __init__(
        self,
        channels: int,
        spec: Branches,
        *,
        scale: float = 1.0,
        activate: bool = True,
        bn_eps: float = BN_EPS,
        se: SEConfig | None = None,
    ) -> None:
        super().__init__()
        self.branches = InceptionModule(channels, spec, bn_eps=bn_eps)
        self.up = ConvNormAct(self.branches.out_channels, channels, 1, norm=False, act=False)
        self.se = se.build(channels) if se is not None else nn.Identity()
        self.scale = scale
        self.act = nn.ReLU(inplace=True) if activate else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        residual = self.se(self.up(self.branches(x)))  # (N, C, H, W), C = input channels
        return self.act(x + self.scale * residual)


# -- the networks ------------------------------------------------------------------------------


class _Inception4Net(ClassicNet):
    """Stem (three stages), A modules, Reduction-A, B modules, Reduction-B, C modules, head."""

    def _build(
        self,
        arch: Architecture,
        *,
        in_chans: int,
        num_classes: int,
        drop_rate: float,
        scales: tuple[float, float, float] | None,
        se: SEConfig | None = None,
    ) -> None:
        if (scales is not None) != arch.residual:
            raise ValueError("residual scales go with Inception-ResNet architectures only")
        self.stem_convs, c2 = build_ops(in_chans, arch.stem[0])  # /2
        self.stem_reduce, c4 = build_ops(c2, arch.stem[1])  # /4
        self.stem_out, channels = build_ops(c4, arch.stem[2])  # /8
        self.blocks_a, c8 = self._modules_of(channels, arch, 0, scales, se)
        self.reduction_a = InceptionModule(c8, arch.reduction_a)  # /16
        self.blocks_b, c16 = self._modules_of(self.reduction_a.out_channels, arch, 1, scales, se)
        self.reduction_b = InceptionModule(c16, arch.reduction_b)  # /32
        self.blocks_c, c32 = self._modules_of(self.reduction_b.out_channels, arch, 2, scales, se)
        if se is not None and scales is None:  # Inception-v4: the reductions are modules too
            for reduction in (self.reduction_a, self.reduction_b):
                reduction.set_se(se.build(reduction.out_channels))
        last = ["reduction_b", "blocks_c"]
        if arch.final_conv is not None:
            self.final_conv = ConvNormAct(c32, arch.final_conv, 1, bn_eps=BN_EPS)
            c32 = arch.final_conv
            last.append("final_conv")
        self.set_stages(
            [
                (["stem_convs"], c2, 2),
                (["stem_reduce"], c4, 4),
                (["stem_out", "blocks_a"], c8, 8),
                (["reduction_a", "blocks_b"], c16, 16),
                (last, c32, 32),
            ]
        )
        self.head = ClassifierHead(c32, num_classes, drop_rate=drop_rate)
        init_weights(self)

    @staticmethod
    def _modules_of(
        channels: int,
        arch: Architecture,
        i: int,
        scales: tuple[float, float, float] | None,
        se: SEConfig | None,
    ) -> tuple[nn.Sequential, int]:
        """The ``arch.depths[i]`` modules of type A, B or C (i = 0, 1, 2) and their width."""
        blocks: list[nn.Module] = []
        for j in range(arch.depths[i]):
            if scales is None:
                block = InceptionModule(channels, arch.modules[i])
                channels = block.out_channels
                if se is not None:
                    block.set_se(se.build(channels))
                blocks.append(block)
            else:
                plain = arch.last_module_plain and i == 2 and j == arch.depths[i] - 1
                blocks.append(
                    InceptionResNetModule(
                        channels,
                        arch.modules[i],
                        scale=1.0 if plain else scales[i],
                        activate=not plain,
                        se=se,
                    )
                )
        return nn.Sequential(*blocks), channels


def _resolve(arch: str | Architecture, *, residual: bool) -> Architecture:
    """An ``ARCHITECTURES`` key (or an Architecture) of the right kind, or a clear error."""
    kind = "Inception-ResNet" if residual else "plain Inception"
    valid = sorted(k for k, a in ARCHITECTURES.items() if a.residual == residual)
    if isinstance(arch, str):
        if arch not in valid:
            raise ValueError(f"arch must name a {kind} network, one of {valid}; got {arch!r}")
        return ARCHITECTURES[arch]
    if arch.residual != residual:
        raise ValueError(f"this architecture is not a {kind} network; use one of {valid}")
    return arch


class InceptionV4(_Inception4Net):
    """Inception-v4 (Figure 9): stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C, head.

    ``arch``: ``"inception_v4"`` (the figures) or ``"inception_v4_tf"`` (the release), or an
    :class:`Architecture`. ``se``: an SE block on every Inception module's output (SENet).
    """

    def __init__(
        self,
        *,
        arch: str | Architecture = "inception_v4",
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        se: SEConfig | None = None,
    ) -> None:
        spec = _resolve(arch, residual=False)
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, min_input_size=spec.min_input_size
        )
        self._build(
            spec,
            in_chans=in_chans,
            num_classes=num_classes,
            drop_rate=drop_rate,
            scales=None,
            se=se,
        )


class InceptionResNet(_Inception4Net):
    """Inception-ResNet (Figure 15): stem, A, Reduction-A, B, Reduction-B, C residual modules.

    ``arch``: ``"inception_resnet_v1"``, ``"inception_resnet_v2"`` (the figures) or
    ``"inception_resnet_v2_tf"`` (the release), or an :class:`Architecture`.
    ``residual_scale``: the factor on each residual before the addition (Sec. 3.3), one value
    for all modules or one per module type (A, B, C); each in (0, 1], 1.0 meaning no scaling.
    ``se``: an SE block on each residual branch, before scaling and addition (SENet).
    """

    def __init__(
        self,
        *,
        arch: str | Architecture = "inception_resnet_v2",
        residual_scale: float | Sequence[float] = RESIDUAL_SCALES,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        se: SEConfig | None = None,
    ) -> None:
        spec = _resolve(arch, residual=True)
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, min_input_size=spec.min_input_size
        )
        scales = _check_scales(residual_scale)
        self.residual_scale = scales
        self._build(
            spec,
            in_chans=in_chans,
            num_classes=num_classes,
            drop_rate=drop_rate,
            scales=scales,
            se=se,
        )


def _check_scales(value: float | Sequence[float]) -> tuple[float, float, float]:
    scales = (value,) * 3 if isinstance(value, int | float) else tuple(value)
    if len(scales) != 3 or not all(isinstance(s, int | float) and 0 < s <= 1 for s in scales):
        raise ValueError(
            "residual_scale must be one number or three (for the A, B and C modules), each in "
            f"(0, 1] (the paper uses 0.1-0.3; 1.0 means no scaling), got {value!r}"
        )
    return (float(scales[0]), float(scales[1]), float(scales[2]))


# -- timm key layout ---------------------------------------------------------------------------

#: timm ``inception_v4``: ``features.<i>`` is the i-th of these modules of ours.
TIMM_V4_MODULES: tuple[str, ...] = (
    "stem_convs.0",
    "stem_convs.1",
    "stem_convs.2",
    "stem_reduce",
    "stem_out.0",
    "stem_out.1",
    *(f"blocks_a.{i}" for i in range(4)),
    "reduction_a",
    *(f"blocks_b.{i}" for i in range(7)),
    "reduction_b",
    *(f"blocks_c.{i}" for i in range(3)),
)

_A = r"(blocks_a\.\d+)"
_B = r"(blocks_b\.\d+)"
_C = r"(blocks_c\.\d+)"

#: timm ``inception_v4`` -> ``inception_v4_tf``, applied after ``features.<i>`` is renamed by
#: ``TIMM_V4_MODULES`` (the rules here name our modules on the left, timm's branches after them).
TIMM_V4_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem_out\.0\.branch0\.", "stem_out.0.b3x3."),
    (r"^stem_out\.0\.branch1\.", "stem_out.0.b7x7."),
    (rf"^{_A}\.branch0\.", r"\1.b1x1."),
    (rf"^{_A}\.branch1\.", r"\1.b3x3."),
    (rf"^{_A}\.branch2\.", r"\1.b3x3dbl."),
    (rf"^{_A}\.branch3\.", r"\1.pool_proj."),
    (r"^reduction_a\.branch0\.", "reduction_a.b3x3."),
    (r"^reduction_a\.branch1\.", "reduction_a.b3x3dbl."),
    (rf"^{_B}\.branch0\.", r"\1.b1x1."),
    (rf"^{_B}\.branch1\.", r"\1.b7x7."),
    (rf"^{_B}\.branch2\.", r"\1.b7x7dbl."),
    (rf"^{_B}\.branch3\.", r"\1.pool_proj."),
    (r"^reduction_b\.branch0\.", "reduction_b.b3x3."),
    (r"^reduction_b\.branch1\.", "reduction_b.b7x7_3x3."),
    (rf"^{_C}\.branch0\.", r"\1.b1x1."),
    (rf"^{_C}\.branch1_0\.", r"\1.b3x3.0."),
    (rf"^{_C}\.branch1_1a\.", r"\1.b3x3.1.b1x3."),
    (rf"^{_C}\.branch1_1b\.", r"\1.b3x3.1.b3x1."),
    (rf"^{_C}\.branch2_0\.", r"\1.b3x3dbl.0."),
    (rf"^{_C}\.branch2_1\.", r"\1.b3x3dbl.1."),
    (rf"^{_C}\.branch2_2\.", r"\1.b3x3dbl.2."),
    (rf"^{_C}\.branch2_3a\.", r"\1.b3x3dbl.3.b1x3."),
    (rf"^{_C}\.branch2_3b\.", r"\1.b3x3dbl.3.b3x1."),
    (rf"^{_C}\.branch3\.", r"\1.pool_proj."),
    (r"^last_linear\.", "head.fc."),
)

#: timm ``inception_resnet_v2`` -> ``inception_resnet_v2_tf`` (its last C module, ``block8``,
#: is our ``blocks_c.9``).
TIMM_RESNET_V2_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^conv2d_1a\.", "stem_convs.0."),
    (r"^conv2d_2a\.", "stem_convs.1."),
    (r"^conv2d_2b\.", "stem_convs.2."),
    (r"^conv2d_3b\.", "stem_reduce.1."),
    (r"^conv2d_4a\.", "stem_out.0."),
    (r"^mixed_5b\.branch0\.", "stem_out.2.b1x1."),
    (r"^mixed_5b\.branch1\.", "stem_out.2.b5x5."),
    (r"^mixed_5b\.branch2\.", "stem_out.2.b3x3dbl."),
    (r"^mixed_5b\.branch3\.", "stem_out.2.pool_proj."),
    (r"^repeat\.(\d+)\.branch0\.", r"blocks_a.\1.branches.b1x1."),
    (r"^repeat\.(\d+)\.branch1\.", r"blocks_a.\1.branches.b3x3."),
    (r"^repeat\.(\d+)\.branch2\.", r"blocks_a.\1.branches.b3x3dbl."),
    (r"^repeat\.(\d+)\.conv2d\.", r"blocks_a.\1.up.conv."),
    (r"^mixed_6a\.branch0\.", "reduction_a.b3x3."),
    (r"^mixed_6a\.branch1\.", "reduction_a.b3x3dbl."),
    (r"^repeat_1\.(\d+)\.branch0\.", r"blocks_b.\1.branches.b1x1."),
    (r"^repeat_1\.(\d+)\.branch1\.", r"blocks_b.\1.branches.b7x7."),
    (r"^repeat_1\.(\d+)\.conv2d\.", r"blocks_b.\1.up.conv."),
    (r"^mixed_7a\.branch0\.", "reduction_b.b3x3a."),
    (r"^mixed_7a\.branch1\.", "reduction_b.b3x3b."),
    (r"^mixed_7a\.branch2\.", "reduction_b.b3x3dbl."),
    (r"^repeat_2\.(\d+)\.branch0\.", r"blocks_c.\1.branches.b1x1."),
    (r"^repeat_2\.(\d+)\.branch1\.", r"blocks_c.\1.branches.b3x3."),
    (r"^repeat_2\.(\d+)\.conv2d\.", r"blocks_c.\1.up.conv."),
    (r"^block8\.branch0\.", "blocks_c.9.branches.b1x1."),
    (r"^block8\.branch1\.", "blocks_c.9.branches.b3x3."),
    (r"^block8\.conv2d\.", "blocks_c.9.up.conv."),
    (r"^conv2d_7b\.", "final_conv."),
    (r"^classif\.", "head.fc."),
)

#: The rules of each model whose layout timm implements (see :func:`from_timm`).
TIMM_KEY_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "inception_v4_tf": TIMM_V4_KEY_RULES,
    "inception_resnet_v2_tf": TIMM_RESNET_V2_KEY_RULES,
}


def from_timm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm ``inception_v4`` or ``inception_resnet_v2`` state dict to our names.

    The result loads with ``strict=True`` into ``inception_v4_tf`` or ``inception_resnet_v2_tf``.
    """

    if any(k.startswith("features.") for k in state_dict):  # timm inception_v4
        renamed: dict[str, torch.Tensor] = {}
        for key, value in state_dict.items():
            m = re.match(r"^features\.(\d+)\.", key)
            if m is not None:
                index = int(m.group(1))
                if index >= len(TIMM_V4_MODULES):
                    raise KeyError(f"{key}: timm inception_v4 has no module features.{index}")
                key = f"{TIMM_V4_MODULES[index]}.{key[m.end() :]}"
            renamed[key] = value
        return remap_keys(renamed, TIMM_V4_KEY_RULES)
    if any(k.startswith("conv2d_1a.") for k in state_dict):
        return remap_keys(state_dict, TIMM_RESNET_V2_KEY_RULES)
    raise ValueError(
        "not a timm inception_v4 or inception_resnet_v2 state dict (expected keys starting with "
        "'features.' or 'conv2d_1a.')"
    )


CHECKPOINTS = CheckpointFormats("inception_v4", {"timm": KeyLayout(convert=from_timm)})


# -- builders ----------------------------------------------------------------------------------


@register_model(
    family="inception_v4", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_v4(**options: Any) -> InceptionV4:
    """Inception-v4 (Figure 9): 4 x Inception-A, 7 x Inception-B, 3 x Inception-C."""
    options.setdefault("arch", "inception_v4")
    return InceptionV4(**options)


@register_model(
    family="inception_v4", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_v4_tf(**options: Any) -> InceptionV4:
    """Inception-v4 as released (TF-slim, timm inception_v4): loads their checkpoints."""
    options.setdefault("arch", "inception_v4_tf")
    return InceptionV4(**options)


@register_model(
    family="inception_v4", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_resnet_v1(**options: Any) -> InceptionResNet:
    """Inception-ResNet-v1 (Figure 15): 5 x A, 10 x B, 5 x C residual modules, 1792 features."""
    options.setdefault("arch", "inception_resnet_v1")
    return InceptionResNet(**options)


@register_model(
    family="inception_v4", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_resnet_v2(**options: Any) -> InceptionResNet:
    """Inception-ResNet-v2 (Figure 15): Figure 3 stem, 5 x A, 10 x B, 5 x C residual modules."""
    options.setdefault("arch", "inception_resnet_v2")
    return InceptionResNet(**options)


@register_model(
    family="inception_v4", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_resnet_v2_tf(**options: Any) -> InceptionResNet:
    """Inception-ResNet-v2 as released (TF-slim, timm inception_resnet_v2): loads their weights."""
    options.setdefault("arch", "inception_resnet_v2_tf")
    return InceptionResNet(**options)


@register_model(
    family="senet", paper=SENET_PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def se_inception_resnet_v2(**options: Any) -> InceptionResNet:
    """SE-Inception-ResNet-v2: Figure 15's network, SE (r=16) on every residual branch."""
    options.setdefault("arch", "inception_resnet_v2")
    options.setdefault("se", SEConfig())
    return InceptionResNet(**options)
