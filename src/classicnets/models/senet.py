"""SENet. Hu, Shen, Albanie, Sun, Wu: "Squeeze-and-Excitation Networks" (arXiv 1709.01507,
TPAMI version).

What the paper defines, and how it maps onto this file:

* Sec. 3, Fig. 1: the SE block (squeeze by global average pooling, excitation by FC C/r - ReLU -
  FC C - sigmoid, channel-wise scale): :class:`~classicnets.layers.se.SqueezeExcite`, built from
  an :class:`~classicnets.layers.se.SEConfig` (r = 16 by default). The hidden width is
  ``max(1, C // r)`` (see layers/se.py).
* Sec. 4, Fig. 3, Table 1: SE-ResNet and SE-ResNeXt: an SE block on every residual branch, before
  the summation with the identity. These are ResNet / ResNeXt with ``se=SEConfig()``; the
  integration lives in the residual block (``resnet.ResidualBlock``).
* Sec. 6 ablations, all options of the same models: reduction ratio r (Table 10,
  ``se=SEConfig(reduction=r)``), squeeze avg/max (Table 11, ``SEConfig(squeeze="max")``),
  excitation sigmoid/ReLU/tanh (Table 12, ``SEConfig(excitation=...)``), which stages get SE
  (Table 13, ``se_stages=(3,)``: stage numbers count layer1..layer4, the paper's stages 2..5),
  integration standard / SE-PRE / SE-POST / SE-Identity (Table 14) and after the 3x3 (Table 15):
  ``se_position="standard" | "pre" | "post" | "identity" | "3x3"``.
* Eq. 5: the parameters SE adds, ``(2/r) * sum_s N_s * C_s^2`` weights (2,514,944 for ResNet-50
  at r = 16), plus the FC biases (16,048).
* Appendix, SENet-154: ResNeXt-152 (3, 8, 36, 3) 64x4d with SE and (1) the first 1x1 of every
  bottleneck halved, (2) the 7x7 stem replaced by three 3x3 convolutions, (3) the strided 1x1
  downsampling projections replaced by 3x3 stride-2 ones, (4) dropout 0.2 before the classifier.
  (5) label smoothing, (6) BN frozen for the last epochs and (7) batch 2048 / lr 1.0 are training
  matters, not the model's.

**Stride placement**, per family as in the authors' released Caffe models (and timm's
``legacy_*`` ports): SE-ResNet strides the first 1x1 of a downsampling bottleneck, like the
ResNet paper's models (3.860 G mult-adds for SE-ResNet-50; the paper prints 3.87); SE-ResNeXt and
SENet-154 stride the 3x3, like the ResNeXt paper (4.233 G for SE-ResNeXt-50; paper 4.25). The
stem's 3x3/2 max pool uses Caffe's rounding (no padding, output size rounded up,
``stem_pool="ceil"``): the same output sizes and mult-adds as zero padding at 224x224, windows
offset by one pixel, and what the released weights expect.

Not in the paper's text but taken from the released SENet-154: the stem widths 64, 64, 128 (the
first conv strided). SE-ResNet-18/34 (basic blocks with SE on the residual after the second 3x3's
BN) follow the same rule as the bottleneck networks; the paper reports no figure for them.

**timm's networks** (compatibility variants, registered under their own names so that their
checkpoints load exactly and are never mistaken for the paper's; ``weights.FOREIGN_ARCHS`` maps
them, so ``load_weights`` detects them and ``export_weights(model, "timm")`` writes them):

* ``seresnet18_timm_legacy``, ``seresnet34_timm_legacy`` = timm ``legacy_seresnet18/34``
  (weights trained by timm, not by the authors): the legacy key layout and the paper's
  SE-ResNet-18/34, except for a ReLU on the residual before SE (``SEConfig(input_relu=True)``):
  same parameters, another function. Their weights loaded into ``seresnet18/34`` are refused
  with this name (``check_arch=False`` loads them anyway, e.g. to fine-tune).
* ``seresnet{18,34,50,101,152}_timm``, ``seresnext50_32x4d_timm``, ``seresnext101_32x4d_timm`` =
  timm's non-legacy ``seresnet*`` / ``seresnext*``: torchvision-style ResNets with SE
  (ResNet-style keys ``conv1``, ``layerN.M.se.fc1``, ``fc``, renamed with
  ``resnet.TORCHVISION_KEY_RULES``, hence the ``"torchvision"`` layout in ``FOREIGN_ARCHS``).
  They differ from the released models in three ways: the stem max pool zero-padded
  (``stem_pool="pad"``, not Caffe's ceil mode: same sizes and mult-adds, windows offset by one
  pixel), the stride on the 3x3 of a downsampling bottleneck (``stride_in="3x3"``, as SE-ResNeXt
  already has; SE-ResNet-50/101/152 then cost what ResNet v1.5 does) and the SE hidden width
  ``C / 16`` rounded to the nearest multiple of 8, at least 8 (``SEConfig(divisor=8)``): 8
  hidden units for the 64-channel blocks of SE-ResNet-18/34 (the paper's rule gives 4); every
  other width is already a multiple of 8. timm's ``seresnext101_32x8d``, ``seresnext101_64x4d``
  and its ``d`` / ``t`` / ``ts`` / ``aa`` models (deep stems, average-pool shortcuts, other
  depths) are not registered: none of them is a network of the SENet paper.

Deviations from the paper: none in the architecture.
"""

from __future__ import annotations

from typing import Any

import torch

from ..layers.se import SEConfig
from . import resnet
from .keys import CheckpointFormats, KeyLayout, remap_keys
from .registry import register_model
from .resnet import IMAGENET_DEPTHS, ResNet
from .specs import SENET_PAPER as PAPER
from .specs import ErrorFigure, PaperFigures

# Table 10 (SE-ResNet-50, ablation protocol): reduction ratio r -> paper params, errors.
REDUCTION_TABLE: dict[int, tuple[float, float, float]] = {
    2: (45.7e6, 22.29, 6.00),
    4: (35.7e6, 22.25, 6.09),
    8: (30.7e6, 22.26, 5.99),
    16: (28.1e6, 22.28, 6.03),
    32: (26.9e6, 22.72, 6.20),
}

# SENet-154 (Appendix): ResNeXt-152 64x4d with the modifications listed above.
SENET154_LAYERS = IMAGENET_DEPTHS[152][1]
SENET154_CARDINALITY, SENET154_BASE_WIDTH = 64, 4
SENET154_STEM_WIDTH = 128


# -- the paper's figures, one entry per registered model -------------------------------------------

_ONE_CROP = "single 224x224 center crop (Table 2, the paper's re-implementation protocol)"
_RELEASED = "released Caffe model, single 224x224 center crop"


def _figures(
    *,
    params: int,
    gmacs: float,
    table2: tuple[float, float] | None,
    released: tuple[float, float] | None,
    paper_gflops: float | None = None,
    paper_params: float | None = None,
    timm: str,
) -> PaperFigures:
    errors = []
    if table2:
        errors.append(ErrorFigure(*table2, "ImageNet val", _ONE_CROP, "S1 Table 2"))
    if released:
        errors.append(ErrorFigure(*released, "ImageNet val", _RELEASED, "S2"))
    return PaperFigures(
        source="S1 Table 2, 10; S2",
        paper_params=paper_params,
        paper_macs=paper_gflops * 1e9 if paper_gflops else None,
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=f"computed; equals timm {timm}",
        errors=tuple(errors),
    )


def _timm_figures(
    timm: str, params: int, gmacs: float, notes: str, *, paper_gflops: float | None = None
) -> PaperFigures:
    return PaperFigures(
        source=f"not in the paper: timm {timm}'s layout"
        + ("; S1 Table 2 mult-adds" if paper_gflops else ""),
        paper_macs=paper_gflops * 1e9 if paper_gflops else None,
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=f"computed; params equal timm {timm}",
        notes=notes,
    )


_LEGACY_NOTE = (
    "The paper's SE-ResNet with a ReLU on the residual before SE (timm's own network and "
    "training): same parameters and mult-adds as the paper's rule gives."
)
_TIMM_RESNET_NOTE = (
    "Zero-padded stem max pool, stride on the 3x3 of downsampling bottlenecks, SE widths "
    "rounded to multiples of 8 (timm's ResNet with SE). The paper's figures are for the "
    "released models' layout."
)
_TIMM_RESNEXT_NOTE = (
    "Zero-padded stem max pool (not Caffe's ceil mode): the same layers, sizes and mult-adds as "
    "the paper's network, windows offset by one pixel. The paper's errors are its released "
    "models', not this layout's."
)


FIGURES: dict[str, PaperFigures] = {
    "seresnet18": _figures(
        params=11_778_592, gmacs=1.814, table2=None, released=None, timm="legacy_seresnet18's count"
    ),
    "seresnet34": _figures(
        params=21_958_868, gmacs=3.664, table2=None, released=None, timm="legacy_seresnet34's count"
    ),
    "seresnet50": _figures(
        params=28_088_024,
        gmacs=3.860,
        paper_params=28.1e6,
        paper_gflops=3.87,
        table2=(23.29, 6.62),
        released=(22.37, 6.36),
        timm="legacy_seresnet50",
    ),
    "seresnet101": _figures(
        params=49_326_872,
        gmacs=7.575,
        paper_gflops=7.60,
        table2=(22.38, 6.07),
        released=(21.75, 5.72),
        timm="legacy_seresnet101",
    ),
    "seresnet152": _figures(
        params=66_821_848,
        gmacs=11.289,
        paper_gflops=11.32,
        table2=(21.57, 5.73),
        released=(21.34, 5.54),
        timm="legacy_seresnet152",
    ),
    "seresnext50_32x4d": _figures(
        params=27_559_896,
        gmacs=4.233,
        paper_gflops=4.25,
        table2=(21.10, 5.49),
        released=(20.97, 5.54),
        timm="legacy_seresnext50_32x4d",
    ),
    "seresnext101_32x4d": _figures(
        params=48_955_416,
        gmacs=7.975,
        paper_gflops=8.00,
        table2=(20.70, 5.01),
        released=(19.81, 4.96),
        timm="legacy_seresnext101_32x4d",
    ),
    "senet154": PaperFigures(
        source="S1 Table 8, Appendix; S2",
        ref_params=115_088_984,
        ref_gmacs=20.688,
        ref_source="computed; equals timm legacy_senet154",
        errors=(
            ErrorFigure(18.68, 4.47, "ImageNet val", "single 224x224 crop", "S1 Table 8"),
            ErrorFigure(17.28, 3.79, "ImageNet val", "single 320x320 crop", "S1 Table 8"),
        ),
        notes="The paper prints no parameter or mult-add count for SENet-154.",
    ),
    "seresnet18_timm_legacy": _timm_figures("legacy_seresnet18", 11_778_592, 1.814, _LEGACY_NOTE),
    "seresnet34_timm_legacy": _timm_figures("legacy_seresnet34", 21_958_868, 3.664, _LEGACY_NOTE),
    "seresnet18_timm": _timm_figures("seresnet18", 11_779_624, 1.814, _TIMM_RESNET_NOTE),
    "seresnet34_timm": _timm_figures("seresnet34", 21_960_416, 3.664, _TIMM_RESNET_NOTE),
    "seresnet50_timm": _timm_figures("seresnet50", 28_088_024, 4.092, _TIMM_RESNET_NOTE),
    "seresnet101_timm": _timm_figures("seresnet101", 49_326_872, 7.806, _TIMM_RESNET_NOTE),
    "seresnet152_timm": _timm_figures("seresnet152", 66_821_848, 11.520, _TIMM_RESNET_NOTE),
    "seresnext50_32x4d_timm": _timm_figures(
        "seresnext50_32x4d", 27_559_896, 4.233, _TIMM_RESNEXT_NOTE, paper_gflops=4.25
    ),
    "seresnext101_32x4d_timm": _timm_figures(
        "seresnext101_32x4d", 48_955_416, 7.975, _TIMM_RESNEXT_NOTE, paper_gflops=8.00
    ),
}


def se_overhead(stages: list[tuple[int, int]], reduction: int = 16) -> float:
    """Eq. 5: the SE weights ``(2/r) * sum_s N_s * C_s^2`` for (blocks N_s, channels C_s)."""
    return 2 / reduction * sum(n * c * c for n, c in stages)


def _se_resnet(depth: int, **options: Any) -> ResNet:
    block, layers = IMAGENET_DEPTHS[depth]
    options.setdefault("se", SEConfig())
    options.setdefault("stem_pool", "ceil")
    return ResNet(block=block, layers=layers, **options)


def _se_resnext(depth: int, row: tuple[int, int], **options: Any) -> ResNet:
    options.setdefault("cardinality", row[0])
    options.setdefault("base_width", row[1])
    options.setdefault("stride_in", "3x3")
    return _se_resnet(depth, **options)


# -- timm's legacy SENet key layout (the authors' Caffe models, as ported by Cadene/timm) --------

TIMM_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^layer0\.conv1\.", "stem.conv."),
    (r"^layer0\.bn1\.", "stem.bn."),
    (r"^(layer\d+\.\d+)\.conv(\d)\.", r"\1.conv\2.conv."),
    (r"^(layer\d+\.\d+)\.bn(\d)\.", r"\1.conv\2.bn."),
    (r"^(layer\d+\.\d+)\.downsample\.0\.", r"\1.shortcut.conv."),
    (r"^(layer\d+\.\d+)\.downsample\.1\.", r"\1.shortcut.bn."),
    (r"^(layer\d+\.\d+)\.se_module\.", r"\1.se."),
    (r"^last_linear\.", "head.fc."),
)

#: SENet-154's three-conv stem (``layer0.conv1..3``); used instead of the first two rules.
TIMM_DEEP_STEM_RULES: tuple[tuple[str, str], ...] = (
    (r"^layer0\.conv(\d)\.", r"stem.conv\1.conv."),
    (r"^layer0\.bn(\d)\.", r"stem.conv\1.bn."),
)


#: timm's non-legacy ``seresnet*`` / ``seresnext*`` keys are torchvision's ResNet keys (their
#: ``layerN.M.se.fc1/fc2`` are already ours): the "torchvision" layout of this family.
TORCHVISION_KEY_RULES = resnet.TORCHVISION_KEY_RULES


def from_timm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm ``legacy_se*`` / ``legacy_senet154`` state dict's keys to this module's.

    (A ``legacy_seresnet18/34`` checkpoint loaded into ``seresnet18/34`` is refused by the
    architecture check, which names ``seresnet18_timm_legacy`` / ``34``.)
    """

    rules = TIMM_KEY_RULES
    if "layer0.conv2.weight" in state_dict:
        rules = TIMM_DEEP_STEM_RULES + TIMM_KEY_RULES[2:]
    return remap_keys(state_dict, rules)


CHECKPOINTS = CheckpointFormats(
    "senet",
    {
        "torchvision": KeyLayout(resnet.TORCHVISION_KEY_RULES),
        "timm": KeyLayout(convert=from_timm),
    },
)


# -- SE-ResNet -----------------------------------------------------------------------------------


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet18(**options: Any) -> ResNet:
    """SE-ResNet-18: ResNet-18 with an SE block (r=16) on each residual branch."""
    return _se_resnet(18, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet34(**options: Any) -> ResNet:
    """SE-ResNet-34: ResNet-34 with an SE block (r=16) on each residual branch."""
    return _se_resnet(34, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet50(**options: Any) -> ResNet:
    """SE-ResNet-50: ResNet-50 (stride on the first 1x1) with SE (r=16) on every bottleneck."""
    return _se_resnet(50, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet101(**options: Any) -> ResNet:
    """SE-ResNet-101: ResNet-101 (stride on the first 1x1) with SE (r=16) on every bottleneck."""
    return _se_resnet(101, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet152(**options: Any) -> ResNet:
    """SE-ResNet-152: ResNet-152 (stride on the first 1x1) with SE (r=16) on every bottleneck."""
    return _se_resnet(152, **options)


# -- SE-ResNeXt ----------------------------------------------------------------------------------


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnext50_32x4d(**options: Any) -> ResNet:
    """SE-ResNeXt-50 (32x4d): ResNeXt-50 (stride on the 3x3) with SE (r=16) on every block."""
    return _se_resnext(50, (32, 4), **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnext101_32x4d(**options: Any) -> ResNet:
    """SE-ResNeXt-101 (32x4d): ResNeXt-101 (stride on the 3x3) with SE (r=16) on every block."""
    return _se_resnext(101, (32, 4), **options)


# -- SENet-154 -----------------------------------------------------------------------------------


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def senet154(**options: Any) -> ResNet:
    """SENet-154: SE-ResNeXt-152 64x4d, 3x3 stem, halved first 1x1, 3x3/2 projections, dropout."""
    options.setdefault("stem", "deep")
    options.setdefault("stem_width", SENET154_STEM_WIDTH)
    options.setdefault("halve_first_1x1", True)
    options.setdefault("downsample_kernel", 3)
    options.setdefault("drop_rate", 0.2)
    return _se_resnext(152, (SENET154_CARDINALITY, SENET154_BASE_WIDTH), **options)


# -- timm's networks (compatibility variants; see the module docstring) ----------------------------

#: timm's legacy SE-ResNet-18/34 block: a ReLU on the residual before SE.
TIMM_LEGACY_BASIC_SE = SEConfig(input_relu=True)
#: timm's non-legacy SE block: hidden width C / 16 rounded to a multiple of 8.
TIMM_SE = SEConfig(divisor=8)


def _timm_se_resnet(depth: int, **options: Any) -> ResNet:
    options.setdefault("se", TIMM_SE)
    options.setdefault("stem_pool", "pad")
    options.setdefault("stride_in", "3x3")
    return _se_resnet(depth, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet18_timm_legacy(**options: Any) -> ResNet:
    """timm's legacy_seresnet18: SE-ResNet-18 with a ReLU on the residual before SE."""
    options.setdefault("se", TIMM_LEGACY_BASIC_SE)
    return _se_resnet(18, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet34_timm_legacy(**options: Any) -> ResNet:
    """timm's legacy_seresnet34: SE-ResNet-34 with a ReLU on the residual before SE."""
    options.setdefault("se", TIMM_LEGACY_BASIC_SE)
    return _se_resnet(34, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet18_timm(**options: Any) -> ResNet:
    """timm's seresnet18: padded stem pool, SE widths rounded to multiples of 8."""
    return _timm_se_resnet(18, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet34_timm(**options: Any) -> ResNet:
    """timm's seresnet34: padded stem pool, SE widths rounded to multiples of 8."""
    return _timm_se_resnet(34, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet50_timm(**options: Any) -> ResNet:
    """timm's seresnet50: padded stem pool, stride on the 3x3 (v1.5)."""
    return _timm_se_resnet(50, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet101_timm(**options: Any) -> ResNet:
    """timm's seresnet101: padded stem pool, stride on the 3x3 (v1.5)."""
    return _timm_se_resnet(101, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnet152_timm(**options: Any) -> ResNet:
    """timm's seresnet152: padded stem pool, stride on the 3x3 (v1.5)."""
    return _timm_se_resnet(152, **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnext50_32x4d_timm(**options: Any) -> ResNet:
    """timm's seresnext50_32x4d: SE-ResNeXt-50 (32x4d) with a padded stem max pool."""
    options.setdefault("se", TIMM_SE)
    options.setdefault("stem_pool", "pad")
    return _se_resnext(50, (32, 4), **options)


@register_model(family="senet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def seresnext101_32x4d_timm(**options: Any) -> ResNet:
    """timm's seresnext101_32x4d: SE-ResNeXt-101 (32x4d) with a padded stem max pool."""
    options.setdefault("se", TIMM_SE)
    options.setdefault("stem_pool", "pad")
    return _se_resnext(101, (32, 4), **options)
