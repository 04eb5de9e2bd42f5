"""GoogLeNet (Inception v1). Szegedy et al.: "Going Deeper with Convolutions" (arXiv 1409.4842).

What the paper defines, and how it maps onto this file:

* Table 1 and Fig. 3: a 7x7/2 conv (64), 3x3/2 max pool, local response normalisation, a 1x1
  conv (64) and a 3x3 conv (192) -- Table 1's "convolution 3x3/1, depth 2" row, ``conv2`` here --,
  LRN, 3x3/2 max pool, inception 3a 3b, max pool, 4a-4e, max pool, 5a 5b, 7x7 average pool,
  dropout 40%, linear. ReLU after every convolution, convolutions with biases, no batch norm.
  The pools are Caffe pools (3x3/2, rounding up), as in the released model.
* The inception module (Fig. 2b): four branches concatenated -- 1x1; 1x1 reduce -> 3x3; 1x1
  reduce -> 5x5; 3x3/1 max pool -> 1x1 "pool proj". Its six numbers per module are Table 1's
  columns (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), kept as data in ``TABLE1``.
  :class:`InceptionV1Block` is public and works standalone on any input.
* Sec. 5: two auxiliary classifiers, on 4a and 4d: 5x5/3 average pool (4x4x512, 4x4x528), 1x1
  conv 128 + ReLU, FC 1024 + ReLU, dropout 70%, linear; their losses are added with weight 0.3
  (``aux_loss_weights``) and they are discarded at inference.
* LRN: size 5, alpha 1e-4, beta 0.75 (the released Caffe model's values; the paper names the
  layer without parameters).

The output contract (see ``ClassicNet.forward_with_aux``): ``forward`` always returns one logits
tensor and never runs the auxiliary heads, so evaluation and export see a plain network;
``forward_with_aux`` returns ``(logits, [aux_4a, aux_4d])`` in training mode (``[]`` in eval)
and training code adds ``sum(w * loss(a) for w, a in zip(model.aux_loss_weights, aux))``.
``aux_logits=False`` builds the network without them (the inference network).

Parameter counting: the paper's figures (Table 1) and ``verify``'s reference counts are the
inference network (6,998,552 params, 1.583 G mult-adds); the registered default carries the
auxiliary heads for training (13,378,280 params in all), and ``verify`` checks that total too.

Table 1's own figures do not add up: its params/ops columns sum to 6.8 M / 1.5 G, but the conv1
row (2.7K params, 34M ops) cannot be a 7x7 convolution from 3 to 64 channels (9,408 weights,
118M mult-adds on a 112x112 output), 4c's 463K params disagree with its own 100M ops (509,440
weights over 14x14 positions are 99.8M), and the other params rows differ
from the layers they describe by -4.2% to +2.7%. The ops rows agree within 1%
except conv1's and 5a's (54M for 51.1M). ``classicnets summary googlenet`` shows the paper's row
figures beside ours.

Deviations, all outside the network's definition:

* The auxiliary pool: at the paper's 224x224 input the 5x5/3 window turns 14x14 into the 4x4
  grid the FC expects. At other input sizes that window does not give 4x4, so the map is
  average-pooled adaptively to 4x4 instead (:class:`~classicnets.layers.AuxPool`): training at any
  size works, identical to the paper at 224.
* The head pools globally (the paper's 7x7 average pool at 224x224, any size elsewhere).
* Initialisation is the project's (He for convs, N(0, 0.01) for linear layers); the paper does not
  specify one (the Caffe release used Xavier).

Variants (registered under their own names, never mistaken for the paper):

* ``googlenet_bn``: batch norm after every convolution (conv biases dropped), no LRN -- the
  "BN-GoogLeNet" of the Inception-v3 paper's Table 3; otherwise the paper's network.
* ``googlenet_torchvision``: torchvision's ``googlenet`` layout, for its checkpoints: batch norm
  (eps 1e-3), no LRN, a **3x3** conv in the "5x5" branch (torchvision issue #906, kept there for
  weight compatibility), a 2x2/2 pool after 4e (paper: 3x3/2), dropout 0.2 (paper: 0.4), the
  auxiliary pool always adaptive to 4x4 and BN on the auxiliary 1x1 conv. Its released weights
  expect pixels scaled to [-1, 1] (``TORCHVISION_INPUT``); torchvision converts ImageNet-normalised
  input inside ``forward`` (``transform_input``). Here that is explicit: either normalise with
  ``TORCHVISION_INPUT``, or build with ``transform_input=True``, which puts a visible
  ``input_transform`` module (:class:`~classicnets.layers.Renormalize`) first.

Option ``se=SEConfig()`` (not in this paper; SENet, arXiv 1709.01507, Sec. 4, Fig. 2): an SE
block on the output of each of the nine inception modules, after the concatenation, as in SENet's
SE-Inception module. Any variant above takes it; the SE weights are ``inception<row>.se.*``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, NamedTuple, get_args

from torch import Tensor, nn

from ..layers import (
    SYMMETRIC,
    AuxClassifier,
    AuxPool,
    ClassifierHead,
    ConcatBranches,
    ConvNormAct,
    LocalResponseNorm,
    Normalization,
    Renormalize,
    SEConfig,
    init_weights,
    run_with_aux,
)
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout
from .registry import register_model
from .specs import GOOGLENET_PAPER as PAPER
from .specs import PaperFigures, PaperRow, imagenet_error

Norm = Literal["lrn", "bn"]
AuxPoolKind = Literal["paper", "adaptive"]
Kernel5x5 = Literal[5, 3]
Pool4Kernel = Literal[3, 2]

#: The input normalisation torchvision's GoogLeNet weights were trained with ([-1, 1] pixels).
TORCHVISION_INPUT: Normalization = SYMMETRIC


class InceptionRow(NamedTuple):
    """One row of Table 1: the widths of an inception module's branches."""

    ch1x1: int
    reduce3x3: int
    ch3x3: int
    reduce5x5: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE1: dict[str, InceptionRow] = {
    "3a": InceptionRow(64, 96, 128, 16, 32, 32),  # -> 256
    "3b": InceptionRow(128, 128, 192, 32, 96, 64),  # -> 480
    "4a": InceptionRow(192, 96, 208, 16, 48, 64),  # -> 512
    "4b": InceptionRow(160, 112, 224, 24, 64, 64),  # -> 512
    "4c": InceptionRow(128, 128, 256, 24, 64, 64),  # -> 512
    "4d": InceptionRow(112, 144, 288, 32, 64, 64),  # -> 528
    "4e": InceptionRow(256, 160, 320, 32, 128, 128),  # -> 832
    "5a": InceptionRow(256, 160, 320, 32, 128, 128),  # -> 832
    "5b": InceptionRow(384, 192, 384, 48, 128, 128),  # -> 1024
}
#: The inception modules of each stage; a 3x3/2 max pool precedes every stage.
STAGES: tuple[tuple[str, ...], ...] = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))
#: Sec. 5: the modules whose outputs feed the auxiliary classifiers, and their loss weight.
AUX_TAPS: tuple[str, ...] = ("4a", "4d")
AUX_LOSS_WEIGHT = 0.3

# Table 1's "params" and "ops" columns as printed (K params, M ops), by our module names.
TABLE1_FIGURES: dict[str, tuple[float, float]] = {
    "conv1": (2.7, 34),
    "conv2": (112, 360),
    "inception3a": (159, 128),
    "inception3b": (380, 304),
    "inception4a": (364, 73),
    "inception4b": (437, 88),
    "inception4c": (463, 100),
    "inception4d": (580, 119),
    "inception4e": (840, 170),
    "inception5a": (1072, 54),
    "inception5b": (1388, 71),
    "head": (1000, 1),  # the linear layer
}


# -- the paper's figures, one entry per registered model -------------------------------------------


def _table1_rows() -> tuple[PaperRow, ...]:
    return tuple(
        PaperRow(name, round(k * 1e3), round(m * 1e6)) for name, (k, m) in TABLE1_FIGURES.items()
    )


_TABLE1_DEVIATION = (
    "Table 1's params/ops columns sum to 6.80M / 1.50G, but its rows do not describe the network "
    "it specifies: conv1's row (2.7K params, 34M ops) cannot be a 7x7 conv from 3 to 64 channels "
    "(9,472 params, 118M mult-adds on 112x112), 4c's 463K params disagree with its own 100M ops "
    "(509,440 weights x 196 positions = 99.8M), and the other params rows differ from their "
    "layers by -4.2% to +2.7%. Built from the table's layer specification the network has "
    "6,998,552 params and 1.583G mult-adds; `classicnets summary googlenet` shows both row by row."
)


FIGURES: dict[str, PaperFigures] = {
    "googlenet": PaperFigures(
        source="G1 Table 1 (column sums), Table 3; I3 Table 3",
        paper_params=6_797_700,
        paper_macs=1_502e6,
        ref_params=6_998_552,
        ref_gmacs=1.583,
        ref_params_with_aux=13_378_280,
        ref_source="computed from Table 1 and Sec. 5 (neither torchvision nor timm builds it)",
        errors=(
            imagenet_error(None, 10.07, "1 model, 1 crop", "G1 Table 3"),
            imagenet_error(None, 9.15, "1 model, 10 crops", "G1 Table 3"),
            imagenet_error(None, 7.89, "1 model, 144 crops", "G1 Table 3"),
            imagenet_error(None, 6.67, "7 models, 144 crops", "G1 Table 3"),
            imagenet_error(
                29.0, 9.2, "single crop, 48,238 non-blacklisted val images", "I3 Table 3"
            ),
        ),
        accepted_deviation=_TABLE1_DEVIATION,
        rows=_table1_rows(),
        notes="Params and mult-adds are the inference network's; the registered default also "
        "carries the two auxiliary classifiers (aux_logits=True, 13,378,280 params in all).",
    ),
    "googlenet_bn": PaperFigures(
        source="I3 Table 3 (BN-GoogLeNet)",
        paper_macs=1.5e9,
        ref_params=7_005_832,
        ref_gmacs=1.583,
        ref_params_with_aux=13_385_816,
        errors=(
            imagenet_error(
                26.8, None, "single crop, 48,238 non-blacklisted val images", "I3 Table 3"
            ),
        ),
        accepted_deviation="I3 Table 3 quotes GoogLeNet's cost (1.5 Bn ops) for BN-GoogLeNet; "
        "batch norm adds no mult-adds, and the network's own count is 1.583G (see googlenet: "
        "GoogLeNet's Table 1 does not add up).",
    ),
    "googlenet_torchvision": PaperFigures(
        source="not the paper: torchvision googlenet's layout",
        ref_params=6_624_904,
        ref_gmacs=1.498,
        ref_params_with_aux=13_004_888,
        ref_source="torchvision googlenet weights metadata (num_params, _ops) and computed",
        errors=(
            imagenet_error(
                30.222, 10.470, "torchvision IMAGENET1K_V1 weights, resize 256, 224 crop", "TV"
            ),
        ),
        notes="BN (eps 1e-3), a 3x3 conv in the '5x5' branch, 2x2/2 pool after 4e, dropout "
        "0.2, adaptive aux pool. Its weights expect [-1, 1] pixels (TORCHVISION_INPUT).",
    ),
}


# -- blocks ------------------------------------------------------------------------------------


class InceptionV1Block(ConcatBranches):
    """The inception module (Fig. 2b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1.

    Arguments in Table 1's column order. Output channels ``ch1x1 + ch3x3 + ch5x5 + pool_proj``
    at the input's resolution, for any input size::

        InceptionV1Block(192, 64, 96, 128, 16, 32, 32)  # inception 3a: 192 -> 256 channels
        InceptionV1Block(3, 64, 32, 64, 64, 96, 32)(torch.randn(1, 3, 256, 256)).shape
        # (1, 256, 256, 256)

    ``norm=True`` puts batch norm after every conv (and drops the conv biases); ``kernel_5x5=3``
    is torchvision's layout. ``se``: an SE block on the concatenated output (SENet Fig. 2).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        reduce3x3: int,
        ch3x3: int,
        reduce5x5: int,
        ch5x5: int,
        pool_proj: int,
        *,
        norm: bool = False,
        kernel_5x5: int = 5,
        bn_eps: float = 1e-5,
        se: SEConfig | None = None,
    ) -> None:
        widths = (ch1x1, reduce3x3, ch3x3, reduce5x5, ch5x5, pool_proj)
        if in_channels < 1 or min(widths) < 1:
            raise ValueError(f"channel counts must be >= 1, got {in_channels} and {widths}")

        def conv(cin: int, cout: int, k: int) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, norm=norm, bn_eps=bn_eps)

        def reduce_then(reduce: int, out: int, k: int) -> nn.Sequential:
            return nn.Sequential(
                OrderedDict(reduce=conv(in_channels, reduce, 1), conv=conv(reduce, out, k))
            )

        super().__init__(
            b1x1=conv(in_channels, ch1x1, 1),
            b3x3=reduce_then(reduce3x3, ch3x3, 3),
            b5x5=reduce_then(reduce5x5, ch5x5, kernel_5x5),
            pool_proj=nn.Sequential(
                OrderedDict(
                    pool=nn.MaxPool2d(3, stride=1, padding=1),
                    proj=conv(in_channels, pool_proj, 1),
                )
            ),
        )
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        if se is not None:
            self.set_se(se.build(self.out_channels))


class GoogLeNetAux(AuxClassifier):
    """Sec. 5's auxiliary classifier: 5x5/3 avg pool, 1x1 conv 128, FC 1024, dropout 70%, linear."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        norm: bool = False,
        bn_eps: float = 1e-5,
        pool: AuxPoolKind = "paper",
        drop_rate: float = 0.7,
    ) -> None:
        super().__init__()
        grid = 4
        self.pool = AuxPool(grid, window=(5, 3) if pool == "paper" else None)
        self.body = nn.Sequential(
            OrderedDict(
                conv=ConvNormAct(in_channels, 128, 1, norm=norm, bn_eps=bn_eps),
                flatten=nn.Flatten(),
                fc=nn.Linear(128 * grid * grid, 1024),
                act=nn.ReLU(inplace=True),
            )
        )
        self.head = ClassifierHead(1024, num_classes, drop_rate=drop_rate)


# -- the network -------------------------------------------------------------------------------


def _check_options(
    norm: str,
    kernel_5x5: int,
    pool4_kernel: int,
    aux_pool: str,
    transform_input: bool,
    in_chans: int,
) -> None:
    """Refuse the :class:`GoogLeNet` options no network here has, naming the valid ones."""
    if norm not in get_args(Norm):
        raise ValueError(f"norm must be 'lrn' (paper) or 'bn', got {norm!r}")
    if kernel_5x5 not in get_args(Kernel5x5):
        raise ValueError(f"kernel_5x5 must be 5 (paper) or 3 (torchvision), got {kernel_5x5}")
    if pool4_kernel not in get_args(Pool4Kernel):
        raise ValueError(f"pool4_kernel must be 3 (paper) or 2 (torchvision), got {pool4_kernel}")
    if aux_pool not in get_args(AuxPoolKind):
        raise ValueError(f"aux_pool must be 'paper' or 'adaptive', got {aux_pool!r}")
    if transform_input and in_chans != 3:
        raise ValueError(
            "transform_input converts 3-channel ImageNet-normalised images; in_chans=3"
        )


class GoogLeNet(ClassicNet):
    """GoogLeNet: stem, inception stages 3-5 (Table 1 rows), global pool, dropout, linear.

    Options beyond the contract's: ``aux_logits`` (the two auxiliary classifiers, default on:
    the paper trains with them), ``aux_drop_rate``, ``norm`` ("lrn": the paper; "bn": batch norm
    after every conv, no LRN), and torchvision's layout details ``kernel_5x5``, ``pool4_kernel``,
    ``aux_pool``, ``bn_eps`` and ``transform_input`` (see the module docstring), and ``se``: an
    SE block on every inception module's output (SENet's SE-Inception; None: none).
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.4,
        aux_logits: bool = True,
        aux_drop_rate: float = 0.7,
        norm: Norm = "lrn",
        kernel_5x5: Kernel5x5 = 5,
        pool4_kernel: Pool4Kernel = 3,
        aux_pool: AuxPoolKind = "paper",
        bn_eps: float = 1e-5,
        transform_input: bool = False,
        se: SEConfig | None = None,
    ) -> None:
        _check_options(norm, kernel_5x5, pool4_kernel, aux_pool, transform_input, in_chans)
        # Each 3x3/2 pool (rounding up) needs >= 2 pixels, a 2x2/2 one >= 1: the smallest input
        # that leaves one pixel for pool4 is 31 (paper) or 15 (torchvision: its min_size).
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=31 if pool4_kernel == 3 else 15,
        )
        bn = norm == "bn"
        self.aux_logits = aux_logits
        self.aux_loss_weights = (AUX_LOSS_WEIGHT,) * len(AUX_TAPS) if aux_logits else ()

        def conv(cin: int, cout: int, k: int, stride: int = 1) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, stride=stride, norm=bn, bn_eps=bn_eps)

        def lrn() -> nn.Module:
            return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

        def pool(k: int = 3) -> nn.MaxPool2d:
            return nn.MaxPool2d(k, stride=2, ceil_mode=True)

        stem: list[str] = []
        if transform_input:
            self.input_transform = Renormalize(target=TORCHVISION_INPUT)
            stem.append("input_transform")
        # Fig. 3: conv 7x7/2, max pool, LRN, conv 1x1, conv 3x3, LRN, max pool (no LRN with BN)
        self.conv1 = conv(in_chans, 64, 7, stride=2)
        self.pool1 = pool()
        if not bn:
            self.lrn1 = lrn()
        self.conv2 = nn.Sequential(OrderedDict(reduce=conv(64, 64, 1), conv=conv(64, 192, 3)))
        if not bn:
            self.lrn2 = lrn()
        self.pool2 = pool()
        second = ["pool1", "conv2"] if bn else ["pool1", "lrn1", "conv2", "lrn2"]
        stages: list[tuple[list[str], int, int]] = [([*stem, "conv1"], 64, 2), (second, 192, 4)]

        channels, reduction = 192, 4
        for pool_name, names in zip(("pool2", "pool3", "pool4"), STAGES, strict=True):
            if pool_name != "pool2":  # pool2 is built above, with the stem
                self.add_module(pool_name, pool(pool4_kernel if pool_name == "pool4" else 3))
            modules = [pool_name]
            for name in names:
                row = TABLE1[name]
                block = InceptionV1Block(
                    channels, *row, norm=bn, kernel_5x5=kernel_5x5, bn_eps=bn_eps, se=se
                )
                self.add_module(f"inception{name}", block)
                modules.append(f"inception{name}")
                channels = row.out_channels
            reduction *= 2
            stages.append((modules, channels, reduction))
        self.set_stages(stages)
        self.head = ClassifierHead(channels, num_classes, drop_rate=drop_rate)

        self._aux_taps: dict[str, str] = {}
        if aux_logits:
            for i, name in enumerate(AUX_TAPS):
                aux = GoogLeNetAux(
                    TABLE1[name].out_channels,
                    num_classes,
                    norm=bn,
                    bn_eps=bn_eps,
                    pool=aux_pool,
                    drop_rate=aux_drop_rate,
                )
                self.add_module(f"aux{i + 1}", aux)
                self._aux_taps[f"inception{name}"] = f"aux{i + 1}"
        init_weights(self)

    def aux_heads(self) -> list[AuxClassifier]:
        """The auxiliary classifiers, in the order ``forward_with_aux`` returns their logits."""
        return [getattr(self, n) for n in self._aux_taps.values()]

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and, in training mode, the auxiliary logits of 4a and 4d (eval: ``[]``)."""
        if not (self.training and self._aux_taps):
            return self.forward(x), []
        self.check_input(x)
        trunk = [(n, getattr(self, n)) for names in self._stage_modules for n in names]
        heads = {tap: getattr(self, aux) for tap, aux in self._aux_taps.items()}
        features, aux = run_with_aux(x, trunk, heads)
        return self.forward_head(features), aux

    def reset_classifier(self, num_classes: int) -> None:
        """New main and auxiliary classifiers (with 0, the auxiliary heads return features)."""
        super().reset_classifier(num_classes)
        for aux in self.aux_heads():
            aux.reset(num_classes)


# -- torchvision key layout ----------------------------------------------------------------------

TORCHVISION_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^conv2\.", "conv2.reduce."),
    (r"^conv3\.", "conv2.conv."),
    (r"^(inception\w+)\.branch1\.", r"\1.b1x1."),
    (r"^(inception\w+)\.branch2\.0\.", r"\1.b3x3.reduce."),
    (r"^(inception\w+)\.branch2\.1\.", r"\1.b3x3.conv."),
    (r"^(inception\w+)\.branch3\.0\.", r"\1.b5x5.reduce."),
    (r"^(inception\w+)\.branch3\.1\.", r"\1.b5x5.conv."),
    (r"^(inception\w+)\.branch4\.1\.", r"\1.pool_proj.proj."),
    (r"^(aux\d)\.conv\.", r"\1.body.conv."),
    (r"^(aux\d)\.fc1\.", r"\1.body.fc."),
    (r"^(aux\d)\.fc2\.", r"\1.head.fc."),
    (r"^fc\.", "head.fc."),
)
#: Our keys of the auxiliary classifiers (``classicnets.weights`` loads with or without them).
AUX_HEAD_PREFIXES: tuple[str, ...] = tuple(f"aux{i + 1}." for i in range(len(AUX_TAPS)))


CHECKPOINTS = CheckpointFormats(
    "googlenet",
    {"torchvision": KeyLayout(TORCHVISION_KEY_RULES)},
    aux_head_prefixes=AUX_HEAD_PREFIXES,
)


# -- builders ----------------------------------------------------------------------------------


@register_model(family="inception", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def googlenet(**options: Any) -> GoogLeNet:
    """GoogLeNet as published: LRN, conv biases, real 5x5s, dropout 40%, aux heads on 4a/4d."""
    return GoogLeNet(**options)


@register_model(family="inception", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def googlenet_bn(**options: Any) -> GoogLeNet:
    """GoogLeNet with batch norm after every conv and no LRN (BN-GoogLeNet); real 5x5s."""
    options.setdefault("norm", "bn")
    return GoogLeNet(**options)


@register_model(family="inception", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def googlenet_torchvision(**options: Any) -> GoogLeNet:
    """torchvision's GoogLeNet (BN, 3x3 in the '5x5' branch): loads its checkpoints exactly."""
    for key, value in {
        "norm": "bn",
        "kernel_5x5": 3,
        "pool4_kernel": 2,
        "aux_pool": "adaptive",
        "bn_eps": 1e-3,
        "drop_rate": 0.2,
    }.items():
        options.setdefault(key, value)
    return GoogLeNet(**options)
