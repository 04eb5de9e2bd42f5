"""ResNeXt. Xie, Girshick, Dollár, Tu, He: "Aggregated Residual Transformations for Deep Neural
Networks" (arXiv 1611.05431).

What the paper defines, and how it maps onto this file:

* Sec. 3.3, Fig. 3: the ResNet bottleneck with its 3x3 split into C ("cardinality") groups of
  bottleneck width d: ``sum_i T_i(x)``. Three equivalent forms: (a) C complete 1x1-3x3-1x1 paths
  summed, (b) C 1x1-3x3 paths concatenated before one 1x1, (c) one 3x3 grouped convolution.
  All are :class:`~classicnets.models.resnet.Bottleneck` (option ``block_form``, default "c");
  they have the same parameters (tests/conversions.py maps weights between them).
* Table 1 / Sec. 3.1: the ResNet-50/101 layouts, with each stage's 3x3 width ``C * d`` doubling
  as the resolution halves, output widths 256/512/1024/2048 as in ResNet, option B shortcuts.
* Table 2: complexity-preserving (C, d) pairs for ResNet-50's template: 1x64d, 2x40d, 4x24d,
  8x14d, 32x4d (``TABLE2_WIDTHS``), registered for ResNeXt-50; any other (C, d) is the
  ``cardinality`` / ``base_width`` options (e.g. the 101-layer Table 3 rows).
* Table 4: ResNeXt-101 at twice the complexity, 64x4d. 32x8d is not in the paper (it comes from
  the later torchvision / WSL releases) and is registered for their checkpoints.
* Sec. 5.2, Table 7: CIFAR ResNeXt-29: a 3x3 conv with 64 filters, three stages of three
  bottlenecks with outputs 256/512/1024, d = 64 at the first stage, global pooling, FC.

**Stride placement.** Sec. 4 follows fb.resnet.torch: downsampling "by stride-2 convolutions in
the 3x3 layer of the first block in each stage". So every ResNeXt here strides the 3x3
(``stride_in="3x3"``), unlike the ResNet family's paper default (the first 1x1); the ResNeXt
paper's own ResNet-50 baseline (1x64d, 4.089 G) is therefore ResNet "v1.5". Max pool with
padding 1, as in fb.resnet.torch and torchvision.

Deviations: none in the architecture. The facebookresearch/ResNeXt README says the CIFAR results
were trained with pre-activation blocks; the paper describes the post-activation block for both
datasets, which is what is built, and Table 7's parameter counts hold for it.
"""

from __future__ import annotations

from typing import Any

from . import resnet
from .keys import CheckpointFormats, KeyLayout
from .registry import register_model
from .resnet import IMAGENET_DEPTHS, ResNet
from .specs import RESNEXT_PAPER as PAPER
from .specs import ErrorFigure, PaperFigures, imagenet_error

# Table 2: (cardinality C, bottleneck width d) at roughly ResNet-50's complexity.
TABLE2_WIDTHS: tuple[tuple[int, int], ...] = ((1, 64), (2, 40), (4, 24), (8, 14), (32, 4))

# Sec. 5.2: 29 layers = 3x3 stem + 3 stages x 3 bottlenecks (x3 convs) + FC.
CIFAR_LAYERS = (3, 3, 3)
CIFAR_WIDTHS = (64, 128, 256)  # x4: stage outputs 256, 512, 1024


# -- the paper's figures, one entry per registered model -------------------------------------------

_ONE_CROP = "single 224x224 center crop of the image resized to 256"

_TABLE2_ROWS = {
    # (C, d): (params, G mult-adds, Table 3 top-1 error)
    (1, 64): (25_557_032, 4.089, 23.9),
    (2, 40): (25_425_000, 4.125, 23.0),
    (4, 24): (25_292_968, 4.160, 22.6),
    (8, 14): (25_603_016, 4.267, 22.3),
    (32, 4): (25_028_904, 4.230, 22.2),
}
_TABLE2_REF_SOURCE = {
    (1, 64): "computed; equals torchvision resnet50 (stride on the 3x3)",
    (32, 4): "computed; equals torchvision resnext50_32x4d",
}
_TABLE1_PRINTED = {
    (32, 4): {"paper_params": 25.0e6, "paper_macs": 4.2e9},
    (1, 64): {"paper_params": 25.5e6, "paper_macs": 4.1e9},
}

# Table 7 (with 10 classes): (C, d) -> paper params, exact params, G mult-adds, C10, C100 error
_TABLE7_ROWS = {
    (8, 64): (34.4e6, 34_426_698, 5.387, 3.65, 17.77),
    (16, 64): (68.1e6, 68_155_210, 10.689, 3.58, 17.31),
}


def _resnext50_figures(c: int, d: int) -> PaperFigures:
    params, gmacs, top1 = _TABLE2_ROWS[(c, d)]
    printed = _TABLE1_PRINTED.get((c, d), {})
    return PaperFigures(
        source="X1 Table 1, 2, 3",
        paper_params=printed.get("paper_params"),
        paper_macs=printed.get("paper_macs"),
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=_TABLE2_REF_SOURCE.get(
            (c, d),
            "computed; equals timm ResNet(Bottleneck, (3, 4, 6, 3), cardinality=C, base_width=d)",
        ),
        errors=(imagenet_error(top1, None, _ONE_CROP, "Table 3"),),
        notes="Table 2 keeps the complexity only roughly (the 3x3 width C*d grows from 64 to "
        "128 while the 1x1s shrink); Table 1 prints figures for 1x64d and 32x4d only.",
    )


def _cifar_figures(c: int, d: int) -> PaperFigures:
    paper_params, params, gmacs, c10, c100 = _TABLE7_ROWS[(c, d)]
    protocol = "with augmentation (translation, flip), mean of 10 runs"
    return PaperFigures(
        source="X1 Table 7",
        paper_params=paper_params,
        ref_params=params,
        ref_gmacs=gmacs,
        errors=(
            ErrorFigure(c10, None, "CIFAR-10 test", protocol, "Table 7"),
            ErrorFigure(c100, None, "CIFAR-100 test", protocol, "Table 7"),
        ),
    )


FIGURES: dict[str, PaperFigures] = {
    **{f"resnext50_{c}x{d}d": _resnext50_figures(c, d) for c, d in TABLE2_WIDTHS},
    "resnext101_32x4d": PaperFigures(
        source="X1 Fig. 5, Table 3, 4; X2",
        paper_params=44e6,
        paper_macs=7.8e9,
        rel_tol=0.03,
        ref_params=44_177_704,
        ref_gmacs=7.970,
        ref_source="computed; equals timm resnext101_32x4d",
        errors=(imagenet_error(21.2, 5.6, _ONE_CROP, "Table 3, 4"),),
        notes="The paper prints '~44M' and '~7.8 x10^9' (the ResNet-101 baseline's complexity "
        "it preserves): compared within 3%.",
    ),
    "resnext101_64x4d": PaperFigures(
        source="X1 Table 4; X2 (15.6 G)",
        paper_macs=15.6e9,
        ref_params=83_455_272,
        ref_gmacs=15.460,
        ref_source="computed; equals torchvision resnext101_64x4d",
        errors=(
            imagenet_error(20.4, 5.3, _ONE_CROP, "Table 4"),
            ErrorFigure(19.1, 4.4, "ImageNet val", "single 320x320 crop", "Table 5"),
        ),
    ),
    "resnext101_32x8d": PaperFigures(
        source="not in the paper: torchvision resnext101_32x8d",
        ref_params=88_791_336,
        ref_gmacs=16.414,
        ref_source="computed; equals torchvision resnext101_32x8d and its metadata (16.41)",
        notes="32 groups of width 8; the paper's 2x-complexity row doubles cardinality instead.",
    ),
    **{f"resnext29_{c}x{d}d": _cifar_figures(c, d) for c, d in _TABLE7_ROWS},
}

#: torchvision's and timm's ResNeXts use torchvision's ResNet key names.
CHECKPOINTS = CheckpointFormats("resnext", {"torchvision": KeyLayout(resnet.TORCHVISION_KEY_RULES)})


# -- builders ----------------------------------------------------------------------------------


def _defaults(options: dict[str, Any], row: tuple[int, int]) -> None:
    """The row's (C, d) and the paper's stride placement, unless the caller chose otherwise."""
    options.setdefault("cardinality", row[0])
    options.setdefault("base_width", row[1])
    options.setdefault("stride_in", "3x3")


def _imagenet(depth: int, row: tuple[int, int], **options: Any) -> ResNet:
    _, layers = IMAGENET_DEPTHS[depth]
    _defaults(options, row)
    return ResNet(block="bottleneck", layers=layers, **options)


def _cifar(row: tuple[int, int], **options: Any) -> ResNet:
    _defaults(options, row)
    return ResNet(
        block="bottleneck", layers=CIFAR_LAYERS, widths=CIFAR_WIDTHS, stem="cifar", **options
    )


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext50_1x64d(**options: Any) -> ResNet:
    """ResNeXt-50 (1x64d): ResNet-50 baseline of the ResNeXt paper, bottleneck width 64,
    stride on the 3x3 (Table 2, 3).
    """
    return _imagenet(50, (1, 64), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext50_2x40d(**options: Any) -> ResNet:
    """ResNeXt-50 (2x40d): cardinality 2, bottleneck width 40,
    stride on the 3x3 (Table 2, 3).
    """
    return _imagenet(50, (2, 40), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext50_4x24d(**options: Any) -> ResNet:
    """ResNeXt-50 (4x24d): cardinality 4, bottleneck width 24,
    stride on the 3x3 (Table 2, 3).
    """
    return _imagenet(50, (4, 24), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext50_8x14d(**options: Any) -> ResNet:
    """ResNeXt-50 (8x14d): cardinality 8, bottleneck width 14,
    stride on the 3x3 (Table 2, 3).
    """
    return _imagenet(50, (8, 14), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext50_32x4d(**options: Any) -> ResNet:
    """ResNeXt-50 (32x4d): cardinality 32, bottleneck width 4,
    stride on the 3x3 (Table 2, 3).
    """
    return _imagenet(50, (32, 4), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext101_32x4d(**options: Any) -> ResNet:
    """ResNeXt-101 (32x4d): bottlenecks (3, 4, 23, 3), 32 groups of width 4 (Table 3, 4)."""
    return _imagenet(101, (32, 4), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext101_64x4d(**options: Any) -> ResNet:
    """ResNeXt-101 (64x4d): twice ResNeXt-101 32x4d's complexity by cardinality (Table 4)."""
    return _imagenet(101, (64, 4), **options)


@register_model(family="resnext", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnext101_32x8d(**options: Any) -> ResNet:
    """ResNeXt-101 (32x8d): 32 groups of width 8; torchvision's variant, not in the paper."""
    return _imagenet(101, (32, 8), **options)


@register_model(
    family="resnext",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnext29_8x64d(**options: Any) -> ResNet:
    """CIFAR ResNeXt-29 (8x64d): 3x3 stem, 3 stages of 3 bottlenecks, 8 groups of width 64."""
    return _cifar((8, 64), **options)


@register_model(
    family="resnext",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnext29_16x64d(**options: Any) -> ResNet:
    """CIFAR ResNeXt-29 (16x64d): 3x3 stem, 3 stages of 3 bottlenecks, 16 groups of width 64."""
    return _cifar((16, 64), **options)
