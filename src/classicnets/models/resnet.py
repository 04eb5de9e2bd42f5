"""ResNet. He, Zhang, Ren, Sun: "Deep Residual Learning for Image Recognition" (arXiv 1512.03385).

What the paper defines, and how it maps onto this file:

* Table 1: the ImageNet networks of 18, 34, 50, 101 and 152 layers (``IMAGENET_DEPTHS``): a 7x7/2
  conv and a 3x3/2 max pool, then four stages of basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 with
  4x expansion) blocks at 64, 128, 256, 512 base channels, global average pooling and a
  1000-way fully-connected layer. Batch norm after every convolution, before the ReLU.
* Downsampling in a bottleneck: the paper's released models put the stride 2 on the *first 1x1*
  convolution of the first block of a stage, which gives Table 1's 3.8 / 7.6 / 11.3 G mult-adds.
  torchvision and timm put it on the 3x3 ("ResNet v1.5", from fb.resnet.torch), which costs
  4.1 / 7.8 / 11.5 G. ``stride_in="1x1"`` is the paper and the default; ``stride_in="3x3"`` is the
  v1.5 placement, registered as ``resnet50_v1_5`` etc. for torchvision/timm checkpoints.
* Sec. 3.3 / Table 3: shortcut options. (A) identity shortcuts, with zero-padding for the extra
  channels and subsampling when the resolution halves: no parameters. (B) projection shortcuts
  (1x1 conv + BN) where the dimensions change, identity elsewhere: the ImageNet default. (C)
  projections on every shortcut.
* Sec. 4.2 / Table 6: the CIFAR-10 networks of 6n+2 layers: a 3x3 conv with 16 filters, three
  stages of n basic blocks at 16/32/64 filters on 32/16/8 maps, option A shortcuts, global average
  pooling and a 10-way layer (``CIFAR_DEPTHS``).

The same blocks and model class carry two later papers' networks, registered in their own files:
ResNeXt (``resnext.py``: ``cardinality``, ``base_width``, ``block_form`` on the bottleneck) and
SENet (``senet.py``: ``se``, ``se_position``, ``se_stages`` on every residual block, and
SENet-154's ``stem="deep"``, ``halve_first_1x1``, ``downsample_kernel=3``, ``stem_pool="ceil"``).
With their defaults, every one of these options builds exactly the ResNet described above.

Deviation from the paper: none in the architecture. The paper subtracts a per-pixel mean instead of
normalising; that is a data-pipeline matter, not the model's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import ClassifierHead, ConcatBranches, ConvNormAct, init_weights, set_drop_path
from ..layers.fused import FusedConv, FusedResidual
from ..layers.head import GlobalPool
from ..layers.se import SEConfig
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout
from .registry import register_model
from .specs import RESNET_PAPER as PAPER
from .specs import ErrorFigure, PaperFigures, imagenet_error

BlockKind = Literal["basic", "bottleneck"]
Shortcut = Literal["A", "B", "C"]
StrideIn = Literal["1x1", "3x3"]
StemKind = Literal["imagenet", "cifar", "deep"]
StemPool = Literal["pad", "ceil"]
DownsampleKernel = Literal[1, 3]
BlockForm = Literal["a", "b", "c"]
SEPosition = Literal["standard", "pre", "post", "identity", "3x3"]

# Table 1: block type and number of blocks in conv2_x .. conv5_x.
IMAGENET_DEPTHS: dict[int, tuple[BlockKind, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)

# Sec. 4.2: depth 6n+2 -> n basic blocks per stage at 16/32/64 filters.
CIFAR_DEPTHS: dict[int, int] = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}
CIFAR_WIDTHS = (16, 32, 64)


# -- the paper's figures, one entry per registered model -------------------------------------------

_TEN_CROP = "10-crop testing"
_MULTI_SCALE = "single model, fully-convolutional multi-scale testing"
_ONE_CROP = "released model, single 224 center crop"

# depth: (paper mult-adds, params, G mult-adds, Table 3 / Table 4 / R2 top-1 and top-5 errors)
_BOTTLENECK_ROWS: dict[int, tuple[float, int, float, tuple[tuple[float, float], ...]]] = {
    50: (3.8e9, 25_557_032, 3.858, ((22.85, 6.71), (20.74, 5.25), (24.7, 7.8))),
    101: (7.6e9, 44_549_160, 7.570, ((21.75, 6.05), (19.87, 4.60), (23.6, 7.1))),
    152: (11.3e9, 60_192_808, 11.282, ((21.43, 5.71), (19.38, 4.49), (23.0, 6.7))),
}
_BOTTLENECK_PROTOCOLS = ((_TEN_CROP, "Table 3"), (_MULTI_SCALE, "Table 4"), (_ONE_CROP, "R2"))

# v1.5 depth: G mult-adds (params: those of the paper's network of that depth)
_V1_5_GMACS: dict[int, float] = {50: 4.089, 101: 7.801, 152: 11.514}

CIFAR_TABLE6 = {
    # depth: (paper params, exact params with 10 classes, G mult-adds at 32x32, C10 error %)
    20: (0.27e6, 269_722, 0.041, 8.75),
    32: (0.46e6, 464_154, 0.069, 7.51),
    44: (0.66e6, 658_586, 0.097, 7.17),
    56: (0.85e6, 853_018, 0.125, 6.97),
    110: (1.7e6, 1_727_962, 0.253, 6.43),
    1202: (19.4e6, 19_421_274, 2.829, 7.93),
}


def _bottleneck_figures(depth: int) -> PaperFigures:
    paper_macs, params, gmacs, errors = _BOTTLENECK_ROWS[depth]
    return PaperFigures(
        source="R1 Table 1, 3, 4; R2",
        paper_macs=paper_macs,
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=f"computed; params equal torchvision resnet{depth}, whose stride placement "
        f"differs (see resnet{depth}_v1_5)",
        errors=tuple(
            imagenet_error(top1, top5, protocol, source)
            for (top1, top5), (protocol, source) in zip(errors, _BOTTLENECK_PROTOCOLS, strict=True)
        ),
    )


def _v1_5_figures(depth: int) -> PaperFigures:
    return PaperFigures(
        source="not in the paper: fb.resnet.torch / torchvision stride placement",
        ref_params=_BOTTLENECK_ROWS[depth][1],
        ref_gmacs=_V1_5_GMACS[depth],
        ref_source=f"torchvision resnet{depth} metadata (_ops) and computed",
        notes="Stride 2 on the 3x3 conv of each downsampling bottleneck. Same parameters as "
        "the paper's network, more mult-adds.",
    )


def _cifar_figures(depth: int) -> PaperFigures:
    paper_params, params, gmacs, error = CIFAR_TABLE6[depth]
    protocol = "with augmentation (pad 4, crop, flip), single 32x32 view"
    if depth == 110:
        protocol += "; best of 5 runs (mean 6.61 +/- 0.16)"
    return PaperFigures(
        source="R1 Table 6",
        paper_params=paper_params,
        ref_params=params,
        ref_gmacs=gmacs,
        errors=(ErrorFigure(error, None, "CIFAR-10 test", protocol, "Table 6"),),
    )


FIGURES: dict[str, PaperFigures] = {
    "resnet18": PaperFigures(
        source="R1 Table 1, 2",
        paper_macs=1.8e9,
        ref_params=11_689_512,
        ref_gmacs=1.814,
        ref_source="computed; equals torchvision resnet18",
        errors=(
            imagenet_error(
                27.88, None, _TEN_CROP + " (Table 2 model: option A shortcuts)", "Table 2"
            ),
        ),
    ),
    "resnet34": PaperFigures(
        source="R1 Table 1, 3, 4",
        paper_macs=3.6e9,
        ref_params=21_797_672,
        ref_gmacs=3.664,
        ref_source="computed; equals torchvision resnet34",
        errors=(
            imagenet_error(24.52, 7.46, _TEN_CROP, "Table 3"),
            imagenet_error(21.84, 5.71, _MULTI_SCALE, "Table 4"),
        ),
    ),
    "resnet34_a": PaperFigures(
        source="R1 Table 1, 3",
        paper_macs=3.6e9,
        ref_params=21_623_848,
        ref_gmacs=3.644,
        errors=(imagenet_error(25.03, 7.76, _TEN_CROP, "Table 3"),),
    ),
    "resnet34_c": PaperFigures(
        source="R1 Table 3",
        ref_params=22_716_840,
        ref_gmacs=3.831,
        errors=(
            imagenet_error(24.19, 7.40, _TEN_CROP, "Table 3"),
            imagenet_error(21.53, 5.60, _MULTI_SCALE, "Table 4"),
        ),
        notes="Table 1 gives 3.6 G for every 34-layer net; option C's 13 extra projections "
        "add 0.17 G, so no paper mult-add figure is compared.",
    ),
    **{f"resnet{d}": _bottleneck_figures(d) for d in _BOTTLENECK_ROWS},
    **{f"resnet{d}_v1_5": _v1_5_figures(d) for d in _V1_5_GMACS},
    **{f"resnet{d}": _cifar_figures(d) for d in CIFAR_TABLE6},
}


# -- shortcuts ---------------------------------------------------------------------------------


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and append zero channels; no parameters."""

    def __init__(self, extra_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def make_shortcut(
    kind: Shortcut | None,
    in_channels: int,
    out_channels: int,
    stride: int,
    *,
    kernel_size: int = 1,
) -> nn.Module | None:
    """The shortcut of one residual block under option A, B or C (Sec. 3.3); None for the
    paper's plain networks (no shortcut: the block is ``act(F(x))``).

    ``kernel_size`` is that of a *strided* projection: 1 in ResNet, 3 in SENet-154.
    """
    if kind is None:
        return None
    if kind not in get_args(Shortcut):
        raise ValueError(f"shortcut must be 'A', 'B' or 'C', got {kind!r}")
    same = in_channels == out_channels and stride == 1
    if kind == "C" or (kind == "B" and not same):
        k = kernel_size if stride > 1 else 1
        return ConvNormAct(in_channels, out_channels, k, stride=stride, act=False)
    if same:
        return nn.Identity()
    if out_channels < in_channels:
        raise ValueError("option A cannot reduce channels; use shortcut='B'")
    return ZeroPadShortcut(out_channels - in_channels, stride)


# -- blocks ------------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """``act(F(x) + shortcut(x))`` with an optional squeeze-and-excitation block.

    Subclasses build ``shortcut`` and ``residual(x)`` (the branch F). Where SE goes is decided
    here, once for every block type (SENet Sec. 6.5, Fig. 5; Table 14, 15):

    * ``"standard"``: on F's output, before the addition (Fig. 3 of the paper);
    * ``"pre"`` (SE-PRE): on the block's input, in front of F only;
    * ``"post"`` (SE-POST): after the addition and its ReLU;
    * ``"identity"`` (SE-Identity): on the shortcut, in parallel to F;
    * ``"3x3"``: inside F, after the 3x3 convolution's BN and ReLU (bottlenecks only).
    """

    #: None in the paper's plain networks (``models/plain.py``): the block computes ``act(F(x))``.
    shortcut: nn.Module | None

    def _init_se(
        self,
        se: SEConfig | None,
        position: SEPosition,
        *,
        in_channels: int,
        out_channels: int,
        inner_channels: int | None,
    ) -> None:
        if position not in get_args(SEPosition):
            raise ValueError(f"se_position must be one of {get_args(SEPosition)}, got {position!r}")
        self.se_position = position
        self.act = nn.ReLU(inplace=True)
        self.se: nn.Module | None = None
        if se is None:
            return
        if position == "identity" and self.shortcut is None:
            raise ValueError(
                "se_position='identity' puts SE on the shortcut; a plain block has none"
            )
        if position == "3x3" and inner_channels is None:
            raise ValueError(
                f"se_position='3x3' puts SE after the 3x3 of a bottleneck; "
                f"{type(self).__name__} has no single 3x3 (use 'standard', 'pre', 'post' or "
                "'identity')"
            )
        channels = {"pre": in_channels, "3x3": inner_channels}.get(position, out_channels)
        self.se = se.build(channels)  # type: ignore[arg-type]

    def _se_at(self, position: SEPosition, x: Tensor) -> Tensor:
        return self.se(x) if self.se is not None and self.se_position == position else x

    #: Stochastic depth on F (``drop_path_rate``; not in the papers); None: F always runs.
    drop_path: nn.Module | None = None

    def residual(self, x: Tensor) -> Tensor:
        """F: the residual branch."""
        raise NotImplementedError

    def residual_parts(self) -> tuple[nn.Module, nn.Module] | None:
        """F as ``(head, tail)`` modules, ``tail(head(x)) == F(x)`` with ``tail`` the unit that
        ends F; None where F does not end in one convolution unit (ResNeXt's form (a))."""
        raise NotImplementedError

    def fused_for_inference(self) -> nn.Module | None:
        """``deploy()``'s replacement: F's last convolution (already a ``FusedConv``) also adds
        the shortcut and applies the block's ReLU, in one oneDNN call (``FusedResidual``).
        None with SE between the two ("standard")."""
        parts = self.residual_parts()
        se_between = self.se is not None and self.se_position == "standard"
        if parts is None or se_between or not isinstance(self.act, nn.ReLU):
            return None
        head, tail = parts
        if not isinstance(tail, FusedConv) or tail.relu:
            return None
        se = {self.se_position: self.se} if self.se is not None else {}
        if self.shortcut is None:  # a plain block: F's last convolution takes the ReLU
            units = (se.get("pre"), head, FusedConv(tail.conv, relu=True), se.get("post"))
            return nn.Sequential(*(m for m in units if m is not None))
        return FusedResidual(
            head,
            FusedConv(tail.conv, relu=True),
            self.shortcut,
            pre=se.get("pre"),
            identity=se.get("identity"),
            post=se.get("post"),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self._se_at("standard", self.residual(self._se_at("pre", x)))
        if self.drop_path is not None:
            out = self.drop_path(out)
        # In place: allocating a fresh tensor per block cost ~7% of eager CPU time (benchmarks/).
        # Safe for autograd: no layer that ends a residual branch (BN, conv, SE's multiply)
        # saves its output for backward, and autograd would raise if one did.
        if self.shortcut is not None:
            out += self._se_at("identity", self.shortcut(x))
        return self._se_at("post", self.act(out))


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions and a shortcut (Fig. 2 left)."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        shortcut: Shortcut | None = "B",
        se: SEConfig | None = None,
        se_position: SEPosition = "standard",
        shortcut_kernel: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, width, 3, stride=stride)
        self.conv2 = ConvNormAct(width, width, 3, act=False)
        self.shortcut = make_shortcut(
            shortcut, in_channels, width, stride, kernel_size=shortcut_kernel
        )
        self._init_se(
            se, se_position, in_channels=in_channels, out_channels=width, inner_channels=None
        )

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.bn.weight)

    def residual(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))  # type: ignore[no-any-return]

    def residual_parts(self) -> tuple[nn.Module, nn.Module]:
        return self.conv1, self.conv2


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand and a shortcut (ResNet Fig. 5 right; ResNeXt Fig. 3).

    ``width`` is the 3x3 convolution's width. With ``cardinality`` C > 1 that convolution has C
    groups of ``width / C`` channels (ResNeXt's bottleneck width d): the aggregated
    transformation. ``form`` chooses among ResNeXt's three equivalent forms (Fig. 3):

    * ``"c"`` grouped convolution (default): ``conv1`` 1x1, ``conv2`` 3x3 with C groups,
      ``conv3`` 1x1;
    * ``"b"`` early concatenation: C paths of (1x1, 3x3) whose outputs are concatenated and
      fed to one 1x1 ``conv3``;
    * ``"a"`` C complete paths (1x1, 3x3, 1x1) whose outputs are summed. The last batch norm
      (``bn3``) acts on the sum: one BN over the aggregated output is what form (c) computes
      and what makes the forms equivalent; a BN on each path's output would not be.

    All three have the same parameters (tests/conversions.py maps weights between them).
    ``out_channels`` defaults to ``4 * width`` (ResNet), ``reduce_width``
    (the first 1x1's width) to ``width``; SENet-154 halves it.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        shortcut: Shortcut | None = "B",
        stride_in: StrideIn = "1x1",
        cardinality: int = 1,
        out_channels: int | None = None,
        reduce_width: int | None = None,
        form: BlockForm = "c",
        se: SEConfig | None = None,
        se_position: SEPosition = "standard",
        shortcut_kernel: int = 1,
    ) -> None:
        super().__init__()
        if stride_in not in get_args(StrideIn):
            raise ValueError(f"stride_in must be '1x1' (paper) or '3x3' (v1.5), got {stride_in!r}")
        if form not in get_args(BlockForm):
            raise ValueError(f"block form must be 'a', 'b' or 'c' (ResNeXt Fig. 3), got {form!r}")
        reduce_width = width if reduce_width is None else reduce_width
        out_channels = width * self.expansion if out_channels is None else out_channels
        if cardinality < 1 or width % cardinality or reduce_width % cardinality:
            raise ValueError(
                f"cardinality {cardinality} must divide the bottleneck widths "
                f"({reduce_width} -> {width})"
            )
        if form != "c" and reduce_width != width:
            raise ValueError("block forms 'a' and 'b' need reduce_width == width; use form 'c'")
        if form != "c" and se is not None and se_position == "3x3":
            raise ValueError("se_position='3x3' needs the grouped form 'c'")
        self.form = form
        self.cardinality = cardinality
        s1, s3 = (stride, 1) if stride_in == "1x1" else (1, stride)
        if form == "c":
            self.conv1 = ConvNormAct(in_channels, reduce_width, 1, stride=s1)
            self.conv2 = ConvNormAct(reduce_width, width, 3, stride=s3, groups=cardinality)
            self.conv3 = ConvNormAct(width, out_channels, 1, act=False)
        else:
            d = width // cardinality
            self.paths = nn.ModuleList(
                nn.Sequential(
                    OrderedDict(
                        conv1=ConvNormAct(in_channels, d, 1, stride=s1),
                        conv2=ConvNormAct(d, d, 3, stride=s3),
                        **(
                            {"conv3": nn.Conv2d(d, out_channels, 1, bias=False)}
                            if form == "a"
                            else {}
                        ),
                    )
                )
                for _ in range(cardinality)
            )
            if form == "a":
                self.bn3 = nn.BatchNorm2d(out_channels)
            else:
                self.conv3 = ConvNormAct(width, out_channels, 1, act=False)
        self.shortcut = make_shortcut(
            shortcut, in_channels, out_channels, stride, kernel_size=shortcut_kernel
        )
        self._init_se(
            se,
            se_position,
            in_channels=in_channels,
            out_channels=out_channels,
            inner_channels=width,
        )

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight if self.form == "a" else self.conv3.bn.weight)

    def residual(self, x: Tensor) -> Tensor:
        if self.form == "a":  # C paths, summed, then one BN over the aggregate
            return self.bn3(sum(path(x) for path in self.paths))  # type: ignore[arg-type]
        if self.form == "b":  # C paths of (1x1, 3x3), concatenated, then one 1x1
            return self.conv3(torch.cat([path(x) for path in self.paths], dim=1))  # type: ignore[no-any-return]
        return self.conv3(self._se_at("3x3", self.conv2(self.conv1(x))))  # type: ignore[no-any-return]

    def residual_parts(self) -> tuple[nn.Module, nn.Module] | None:
        if self.form == "a":
            return None
        if self.form == "b":
            return ConcatBranches(**{str(i): p for i, p in enumerate(self.paths)}), self.conv3
        se = self.se if self.se is not None and self.se_position == "3x3" else nn.Identity()
        return nn.Sequential(self.conv1, self.conv2, se), self.conv3


# -- stems -------------------------------------------------------------------------------------


def make_stem(kind: StemKind, in_chans: int, width: int) -> nn.Module:
    """The layers before the first stage (without the max pool)."""
    if kind == "imagenet":  # Table 1: 7x7/2
        return ConvNormAct(in_chans, width, 7, stride=2)
    if kind == "deep":  # SENet-154 (SENet Appendix): three 3x3 convs, the first strided
        return nn.Sequential(
            OrderedDict(
                conv1=ConvNormAct(in_chans, 64, 3, stride=2),
                conv2=ConvNormAct(64, 64, 3),
                conv3=ConvNormAct(64, width, 3),
            )
        )
    return ConvNormAct(in_chans, width, 3)  # CIFAR, Sec. 4.2


def make_stem_pool(kind: StemPool) -> nn.Module:
    """3x3/2 max pool: zero padding 1 (torchvision) or Caffe's ceil rounding with no padding.

    Both give 56x56 from 112x112, with windows offset by one pixel; the Caffe form is the one
    the SENet authors' released models (and timm's ``legacy_*`` ports) use.
    """
    if kind == "pad":
        return nn.MaxPool2d(3, stride=2, padding=1)
    if kind == "ceil":
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)
    raise ValueError(f"stem_pool must be 'pad' or 'ceil' (Caffe), got {kind!r}")


# -- the network -------------------------------------------------------------------------------


def _check_options(
    layers: Sequence[int],
    widths: Sequence[int],
    stem: str,
    block: str,
    downsample_kernel: int,
    bottleneck_only: bool,
    se_stages: tuple[int, ...],
) -> None:
    """Refuse the :class:`ResNet` layouts no network here has, naming the valid ones
    (``bottleneck_only``: options that only a bottleneck takes were given)."""
    if len(layers) != len(widths):
        raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} differ in length")
    if stem not in get_args(StemKind):
        raise ValueError(f"stem must be 'imagenet', 'cifar' or 'deep', got {stem!r}")
    if block not in get_args(BlockKind):
        raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    if block == "basic" and bottleneck_only:
        raise ValueError(
            "cardinality, block_form and halve_first_1x1 apply to bottleneck blocks only"
        )
    if downsample_kernel not in get_args(DownsampleKernel):
        raise ValueError(f"downsample_kernel must be 1 or 3, got {downsample_kernel}")
    n_stages = len(layers)
    if any(not 1 <= i <= n_stages for i in se_stages):
        raise ValueError(f"se_stages must be stage numbers in 1..{n_stages}, got {se_stages}")


class ResNet(ClassicNet):
    """A residual network: stem, stages of residual blocks, global pooling, linear classifier.

    ``stem="imagenet"`` is the 7x7/2 conv + 3x3/2 max pool of Table 1; ``stem="cifar"`` the
    single 3x3 conv of Sec. 4.2; ``stem="deep"`` SENet-154's three 3x3 convs + max pool.
    ``widths`` are the base channels of the stages; each stage but the first halves the
    resolution.

    ResNeXt options: ``cardinality`` C and ``base_width`` d, the bottleneck width of each of the C
    groups in the first stage, doubled with the stage width (so the 3x3 of stage i is
    ``C * d * widths[i] / widths[0]`` wide); ``block_form`` (Fig. 3 (a), (b), (c)).
    SENet options: ``se`` (the block's own options, or None for no SE), ``se_position`` (see
    :class:`ResidualBlock`), ``se_stages`` (stage numbers 1.. = layer1.., i.e. the paper's
    conv2_x..; None = all); ``halve_first_1x1``, ``downsample_kernel`` and ``stem_width`` for
    SENet-154; ``stem_pool`` for the Caffe max pool of the released SENet models.

    ``shortcut=None`` removes every shortcut: the paper's plain networks (``models/plain.py``).

    Not in the papers, for modern training recipes (defaults keep the papers' networks):
    ``global_pool`` ("avg", the papers', or "max") and ``drop_path_rate``, stochastic depth on
    the residual branches, growing linearly to that rate at the last block
    (``layers/drop_path.py``).
    """

    def __init__(
        self,
        *,
        block: BlockKind,
        layers: Sequence[int],
        widths: Sequence[int] = IMAGENET_WIDTHS,
        stem: StemKind = "imagenet",
        stem_width: int | None = None,
        stem_pool: StemPool = "pad",
        shortcut: Shortcut | None = "B",
        stride_in: StrideIn = "1x1",
        downsample_kernel: DownsampleKernel = 1,
        cardinality: int = 1,
        base_width: int | None = None,
        block_form: BlockForm = "c",
        halve_first_1x1: bool = False,
        se: SEConfig | None = None,
        se_position: SEPosition = "standard",
        se_stages: Sequence[int] | None = None,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        zero_init_last: bool = False,
        global_pool: GlobalPool = "avg",
        drop_path_rate: float = 0.0,
    ) -> None:
        n_stages = len(layers)
        se_stages = tuple(range(1, n_stages + 1)) if se_stages is None else tuple(se_stages)
        bottleneck_only = cardinality != 1 or halve_first_1x1 or block_form != "c"
        _check_options(layers, widths, stem, block, downsample_kernel, bottleneck_only, se_stages)
        if shortcut is None and (drop_path_rate or zero_init_last):
            raise ValueError(
                "drop_path_rate and zero_init_last act on residual branches; a plain network "
                "(no shortcuts) would lose its whole signal at those layers"
            )
        base_width = widths[0] if base_width is None else base_width
        stem_reduction = 1 if stem == "cifar" else 4
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=stem_reduction * 2 ** (n_stages - 1),
        )
        self.shortcut_kind = shortcut
        self.stride_in = stride_in

        stem_width = widths[0] if stem_width is None else stem_width
        self.stem = make_stem(stem, in_chans, stem_width)
        # the stem's output is at stride 2 (before the max pool) or 1 (CIFAR, no pool)
        stages: list[tuple[list[str], int, int]] = [
            (["stem"], stem_width, stem_reduction // 2 or 1)
        ]
        first: list[str] = []
        if stem != "cifar":
            self.maxpool = make_stem_pool(stem_pool)
            first = ["maxpool"]

        channels, reduction = stem_width, stem_reduction
        for i, (n_blocks, planes) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            stage_se = se if i + 1 in se_stages else None
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                common = {
                    "stride": stride if j == 0 else 1,
                    "shortcut": shortcut,
                    "se": stage_se,
                    "se_position": se_position,
                    "shortcut_kernel": downsample_kernel,
                }
                if block == "basic":
                    blocks.append(BasicBlock(channels, planes, **common))  # type: ignore[arg-type]
                    channels = planes
                    continue
                width = cardinality * (base_width * planes // widths[0])
                blocks.append(
                    Bottleneck(
                        channels,
                        width,
                        out_channels=planes * Bottleneck.expansion,
                        reduce_width=width // 2 if halve_first_1x1 else width,
                        cardinality=cardinality,
                        form=block_form,
                        stride_in=stride_in,
                        **common,  # type: ignore[arg-type]
                    )
                )
                channels = planes * Bottleneck.expansion
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*blocks))
            stages.append(([*first, name] if i == 0 else [name], channels, reduction))
        self.set_stages(stages)
        self.head = ClassifierHead(channels, num_classes, drop_rate=drop_rate, pool=global_pool)
        set_drop_path([m for m in self.modules() if isinstance(m, ResidualBlock)], drop_path_rate)
        init_weights(self, zero_init_last=zero_init_last)


# -- torchvision / timm key layout (the full weights story is classicnets.weights) ---------------

TORCHVISION_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^conv1\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (r"^(layer\d+\.\d+)\.conv(\d)\.", r"\1.conv\2.conv."),
    (r"^(layer\d+\.\d+)\.bn(\d)\.", r"\1.conv\2.bn."),
    (r"^(layer\d+\.\d+)\.downsample\.0\.", r"\1.shortcut.conv."),
    (r"^(layer\d+\.\d+)\.downsample\.1\.", r"\1.shortcut.bn."),
    (r"^fc\.", "head.fc."),
)


CHECKPOINTS = CheckpointFormats("resnet", {"torchvision": KeyLayout(TORCHVISION_KEY_RULES)})


# -- builders ----------------------------------------------------------------------------------


def _imagenet(depth: int, **options: Any) -> ResNet:
    block, layers = IMAGENET_DEPTHS[depth]
    return ResNet(block=block, layers=layers, **options)


def _cifar(depth: int, **options: Any) -> ResNet:
    n = CIFAR_DEPTHS[depth]
    options.setdefault("shortcut", "A")
    return ResNet(block="basic", layers=(n, n, n), widths=CIFAR_WIDTHS, stem="cifar", **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet18(**options: Any) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2), option B shortcuts."""
    return _imagenet(18, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet34(**options: Any) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3), option B shortcuts (projection where dims change)."""
    return _imagenet(34, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet34_a(**options: Any) -> ResNet:
    """ResNet-34 with option A shortcuts: zero-padded identity, no projection parameters."""
    options.setdefault("shortcut", "A")
    return _imagenet(34, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet34_c(**options: Any) -> ResNet:
    """ResNet-34 with option C shortcuts: a projection on every one of the 16 shortcuts."""
    options.setdefault("shortcut", "C")
    return _imagenet(34, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet50(**options: Any) -> ResNet:
    """ResNet-50: bottlenecks (3, 4, 6, 3), stride on the first 1x1 as in the paper's models."""
    return _imagenet(50, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet101(**options: Any) -> ResNet:
    """ResNet-101: bottlenecks (3, 4, 23, 3), stride on the first 1x1 as in the paper's models."""
    return _imagenet(101, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet152(**options: Any) -> ResNet:
    """ResNet-152: bottlenecks (3, 8, 36, 3), stride on the first 1x1 as in the paper's models."""
    return _imagenet(152, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet50_v1_5(**options: Any) -> ResNet:
    """ResNet-50 with the stride on the 3x3 (v1.5): torchvision/timm resnet50's layout."""
    options.setdefault("stride_in", "3x3")
    return _imagenet(50, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet101_v1_5(**options: Any) -> ResNet:
    """ResNet-101 with the stride on the 3x3 (v1.5): torchvision/timm resnet101's layout."""
    options.setdefault("stride_in", "3x3")
    return _imagenet(101, **options)


@register_model(family="resnet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def resnet152_v1_5(**options: Any) -> ResNet:
    """ResNet-152 with the stride on the 3x3 (v1.5): torchvision/timm resnet152's layout."""
    options.setdefault("stride_in", "3x3")
    return _imagenet(152, **options)


# -- CIFAR-10 (Sec. 4.2, Table 6) ----------------------------------------------------------------


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet20(**options: Any) -> ResNet:
    """CIFAR ResNet-20 (6n+2, n=3): 3x3 stem, three stages of 3 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(20, **options)


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet32(**options: Any) -> ResNet:
    """CIFAR ResNet-32 (6n+2, n=5): 3x3 stem, three stages of 5 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(32, **options)


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet44(**options: Any) -> ResNet:
    """CIFAR ResNet-44 (6n+2, n=7): 3x3 stem, three stages of 7 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(44, **options)


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet56(**options: Any) -> ResNet:
    """CIFAR ResNet-56 (6n+2, n=9): 3x3 stem, three stages of 9 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(56, **options)


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet110(**options: Any) -> ResNet:
    """CIFAR ResNet-110 (6n+2, n=18): 3x3 stem, three stages of 18 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(110, **options)


@register_model(
    family="resnet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def resnet1202(**options: Any) -> ResNet:
    """CIFAR ResNet-1202 (6n+2, n=200): 3x3 stem, three stages of 200 basic blocks at
    16/32/64 filters, option A shortcuts.
    """
    return _cifar(1202, **options)
