"""BN-Inception (Inception v2). Ioffe & Szegedy: "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift" (arXiv 1502.03167).

What the paper defines (Sec. 4.2 and the appendix's Figure 5 table), and how it maps onto this file:

* GoogLeNet's layout with batch normalisation after every convolution (before the ReLU; the
  convolutions lose their biases), and each 5x5 convolution replaced by two stacked 3x3s ("double
  3x3", up to 128 -- in the table up to 256 -- filters).
* Figure 5's columns per inception module are data in ``FIGURE5``: #1x1, #3x3 reduce, #3x3,
  double #3x3 reduce, double #3x3, and "Pool + proj" -- average or max pooling (3x3/1), then a
  1x1 projection. Modules 3c and 4e reduce the grid: no 1x1 branch, the last conv of each branch
  has stride 2, and the pool branch is a 3x3/2 max pool passed through unprojected.
* Stem: 7x7/2 conv 64, 3x3/2 max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool; then 3a-3c,
  4a-4e, 5a 5b, global average pool, linear. Sec. 4.2.1 removes local response normalisation and
  dropout for the batch-normalised network, so there is neither (``drop_rate`` defaults to 0).
* Cost: 2.0 G mult-adds (Inception-v3 paper, Table 3); SENet's re-implementation 2.03 G.

Deviations and readings of the table:

* Figure 5's output column lists 576 channels after 4c and 4d, but the module's own columns add
  up to 160 + 160 + 160 + 128 = 608 (and 96 + 192 + 192 + 128 = 608 for 4d); the columns are
  followed (as in the Caffe model released with the follow-up work), so 4e outputs
  192 + 256 + 608 = 1056 channels. The column also lists 28x28 after 3c, which halves the grid
  (14x14).
* The stride-2 pool branch is a 3x3/2 max pool with one pixel of padding, so its output has the
  size of the stride-2 conv branches at every input size (the Caffe release pools unpadded and
  rounds up, which only agrees with them on even-sized maps, e.g. at 224x224).
* No auxiliary classifiers: the paper does not describe any for this network.
* Initialisation is the project's (He for convs, identity BN, N(0, 0.01) for the linear layer).

SE-BN-Inception (SENet, Hu et al., arXiv 1709.01507; Sec. 4, Fig. 2, Table 2): ``se=SEConfig()``
puts an SE block on the output of an inception module, after the concatenation (Sec. 4: the
transformation F_tr is "an entire Inception module"). The paper does not list the modules; every
one of Figure 5's ten rows gets one, the grid-reducing 3c and 4e included (they are inception
modules of the same table). The hidden width is ``max(1, C // r)`` (layers/se.py). Registered as
``se_bn_inception``: 11,931,622 parameters, 2.033 G mult-adds against the paper's 2.04 G
(BN-Inception is 2.03 G in the paper's Table 2 and 2.033 G here; the SE blocks' FC layers add
0.6 M mult-adds, and the paper's +0.01 G presumably also counts the pooling and scaling, which
this project's convention does not).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, NamedTuple, get_args

from torch import nn

from ..layers import ClassifierHead, ConcatBranches, ConvNormAct, SEConfig, init_weights
from .base import ClassicNet
from .keys import CheckpointFormats
from .registry import register_model
from .specs import BN_INCEPTION_PAPER as PAPER
from .specs import SENET_PAPER, ErrorFigure, PaperFigures

PoolKind = Literal["avg", "max"]
Stride = Literal[1, 2]


class BNInceptionRow(NamedTuple):
    """One row of Figure 5: branch widths (0: no such branch), pool type and projection."""

    ch1x1: int
    reduce3x3: int
    ch3x3: int
    reduce_dbl: int
    ch_dbl: int
    pool: PoolKind
    pool_proj: int  # 0: "pass through"
    stride: int = 1


# Figure 5: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, proj (, stride).
FIGURE5: dict[str, BNInceptionRow] = {
    "3a": BNInceptionRow(64, 64, 64, 64, 96, "avg", 32),  # 192 -> 256
    "3b": BNInceptionRow(64, 64, 96, 64, 96, "avg", 64),  # -> 320
    "3c": BNInceptionRow(0, 128, 160, 64, 96, "max", 0, stride=2),  # -> 576, 14x14
    "4a": BNInceptionRow(224, 64, 96, 96, 128, "avg", 128),  # -> 576
    "4b": BNInceptionRow(192, 96, 128, 96, 128, "avg", 128),  # -> 576
    "4c": BNInceptionRow(160, 128, 160, 128, 160, "avg", 128),  # -> 608
    "4d": BNInceptionRow(96, 128, 192, 160, 192, "avg", 128),  # -> 608
    "4e": BNInceptionRow(0, 128, 192, 192, 256, "max", 0, stride=2),  # -> 1056, 7x7
    "5a": BNInceptionRow(352, 192, 320, 160, 224, "avg", 128),  # -> 1024
    "5b": BNInceptionRow(352, 192, 320, 192, 224, "max", 128),  # -> 1024
}
#: The modules of each stage (a stage starts where the grid halves).
STAGES: tuple[tuple[str, ...], ...] = (
    ("3a", "3b"),
    ("3c", "4a", "4b", "4c", "4d"),
    ("4e", "5a", "5b"),
)


# -- the paper's figures, one entry per registered model -------------------------------------------

FIGURES: dict[str, PaperFigures] = {
    "bn_inception": PaperFigures(
        source="BN Sec. 4.2, Figure 5; I3 Table 3; S1 Table 2",
        paper_macs=2.0e9,
        ref_params=11_285_224,
        ref_gmacs=2.033,
        ref_source="computed from Figure 5's columns (no torchvision/timm model)",
        errors=(
            ErrorFigure(
                25.2,
                7.8,
                "ImageNet val",
                "single crop, 48,238 non-blacklisted images",
                "I3 Table 3",
            ),
            ErrorFigure(25.2, 7.82, "ImageNet val", "single crop (SENet's citation)", "S1 Table 2"),
            ErrorFigure(None, 4.9, "ImageNet val", "ensemble of 6 networks, multi-crop", "BN"),
        ),
        notes="SENet's re-implementation counts 2.03 GFLOPs (= G mult-adds), as computed here.",
    ),
    "se_bn_inception": PaperFigures(
        source="S1 Sec. 4, Fig. 2, Table 2; S2",
        paper_macs=2.04e9,
        ref_params=11_931_622,
        ref_gmacs=2.033,
        ref_source="computed: bn_inception + an SE block (r=16) on each of the 10 inception "
        "modules (no torchvision/timm model)",
        errors=(
            ErrorFigure(
                24.23,
                7.14,
                "ImageNet val",
                "single 224x224 center crop (re-implementation)",
                "S1 Table 2",
            ),
            ErrorFigure(23.62, 7.04, "ImageNet val", "released Caffe model, single crop", "S2"),
        ),
        notes="BN-Inception's re-implementation is 2.03 GFLOPs in SENet Table 2 (2.033 G here).",
    ),
}


class BNInceptionBlock(ConcatBranches):
    """The batch-normalised inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1.

    Arguments in Figure 5's column order; every conv is conv -> BN -> ReLU. ``ch1x1=0`` leaves
    out the 1x1 branch and ``pool_proj=0`` passes the pooled input through unprojected (the
    grid-reduction modules, with ``stride=2``). Works standalone on any input, e.g. inception 3b's
    widths on 192 channels give 64 + 96 + 96 + 64 = 320::

        BNInceptionBlock(192, 64, 64, 96, 64, 96, pool="avg", pool_proj=64)  # 192 -> 320

    ``se``: an SE block on the concatenated output (SENet Fig. 2).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        reduce3x3: int,
        ch3x3: int,
        reduce_dbl: int,
        ch_dbl: int,
        *,
        pool: PoolKind = "avg",
        pool_proj: int = 0,
        stride: Stride = 1,
        bn_eps: float = 1e-5,
        se: SEConfig | None = None,
    ) -> None:
        if pool not in get_args(PoolKind):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        if stride not in get_args(Stride):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 2 and (ch1x1 or pool_proj):
            raise ValueError("a stride-2 module has no 1x1 branch and no pool projection (0, 0)")
        if min(in_channels, reduce3x3, ch3x3, reduce_dbl, ch_dbl) < 1:
            raise ValueError("in_channels and the 3x3 / double 3x3 widths must be >= 1")

        def conv(cin: int, cout: int, k: int, s: int = 1) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, stride=s, bn_eps=bn_eps)

        branches: dict[str, nn.Module] = {}
        if ch1x1:
            branches["b1x1"] = conv(in_channels, ch1x1, 1)
        branches["b3x3"] = nn.Sequential(
            OrderedDict(
                reduce=conv(in_channels, reduce3x3, 1), conv=conv(reduce3x3, ch3x3, 3, stride)
            )
        )
        branches["b3x3dbl"] = nn.Sequential(
            OrderedDict(
                reduce=conv(in_channels, reduce_dbl, 1),
                conv1=conv(reduce_dbl, ch_dbl, 3),
                conv2=conv(ch_dbl, ch_dbl, 3, stride),
            )
        )
        pooling: nn.Module
        if pool == "avg":
            pooling = nn.AvgPool2d(3, stride=stride, padding=1)
        else:
            pooling = nn.MaxPool2d(3, stride=stride, padding=1)
        if pool_proj:
            branches["pool_proj"] = nn.Sequential(
                OrderedDict(pool=pooling, proj=conv(in_channels, pool_proj, 1))
            )
        else:
            branches["pool"] = pooling
        super().__init__(**branches)
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch_dbl + (pool_proj or in_channels)
        if se is not None:
            self.set_se(se.build(self.out_channels))


class BNInception(ClassicNet):
    """BN-Inception: BN stem, inception 3a-5b (Figure 5 rows), global average pool, linear.

    ``se``: an SE block on every inception module's output (SE-BN-Inception; None: none).
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        bn_eps: float = 1e-5,
        se: SEConfig | None = None,
    ) -> None:
        # Each 3x3/2 stem pool (rounding up) needs >= 2 pixels; the stride-2 modules take 1.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=7)

        def conv(cin: int, cout: int, k: int, s: int = 1) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, stride=s, bn_eps=bn_eps)

        self.conv1 = conv(in_chans, 64, 7, 2)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = nn.Sequential(OrderedDict(reduce=conv(64, 64, 1), conv=conv(64, 192, 3)))
        self.pool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        stages: list[tuple[list[str], int, int]] = [
            (["conv1"], 64, 2),
            (["pool1", "conv2"], 192, 4),
        ]
        channels, reduction = 192, 4
        for names in STAGES:
            modules = ["pool2"] if names[0] == "3a" else []
            for name in names:
                row = FIGURE5[name]
                block = BNInceptionBlock(
                    channels,
                    row.ch1x1,
                    row.reduce3x3,
                    row.ch3x3,
                    row.reduce_dbl,
                    row.ch_dbl,
                    pool=row.pool,
                    pool_proj=row.pool_proj,
                    stride=row.stride,
                    bn_eps=bn_eps,
                    se=se,
                )
                self.add_module(f"inception{name}", block)
                modules.append(f"inception{name}")
                channels = block.out_channels
            reduction *= 2
            stages.append((modules, channels, reduction))
        self.set_stages(stages)
        self.head = ClassifierHead(channels, num_classes, drop_rate=drop_rate)
        init_weights(self)


#: No foreign release computes the paper's BN-Inception: no key layouts to convert.
CHECKPOINTS = CheckpointFormats("bn_inception")


@register_model(family="inception", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def bn_inception(**options: Any) -> BNInception:
    """BN-Inception (Inception v2 of the BN paper): batch norm everywhere, double 3x3s."""
    return BNInception(**options)


@register_model(family="senet", paper=SENET_PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def se_bn_inception(**options: Any) -> BNInception:
    """SE-BN-Inception: BN-Inception with an SE block (r=16) on every inception module."""
    options.setdefault("se", SEConfig())
    return BNInception(**options)
