"""The papers' reference figures, as data.

Every registered model carries a :class:`PaperFigures` record next to its builder. Two kinds of
figure live there, and ``classicnets verify`` checks both:

* what the **paper prints** (``paper_params``, ``paper_macs``): rounded, so compared within a
  relative tolerance (``rel_tol``, 2% by default: the papers print two or three significant
  figures);
* the **reference count** of the faithful network (``ref_params`` exactly, ``ref_gmacs`` to three
  decimals), computed from the architecture the paper specifies and cross-checked against
  torchvision/timm where they implement the same network.

Auxiliary classifiers (GoogLeNet, Inception v3) only run in training and the papers count the
network without them, so ``paper_params`` and ``ref_params`` are the **inference network's**
(everything but the :class:`~classicnets.layers.AuxClassifier` modules); ``ref_params_with_aux``
is the total of the model as registered, auxiliary heads included.

Units: the papers' "FLOPs" are multiply-adds (ResNet: "3.6 billion FLOPs (multiply-adds)").
Every mult-add figure in this project counts one multiply-accumulate of a convolution or a
fully-connected layer as one; batch norm, pooling, activations and additions are not counted,
which is the papers' convention.

A figure that the faithful network cannot meet (a paper table that does not add up) carries an
``accepted_deviation`` that says why; ``classicnets verify`` prints all of them in one section.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paper:
    """A publication that defines one or more registered models."""

    key: str
    title: str
    authors: str
    year: int
    arxiv: str

    def cite(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. arXiv:{self.arxiv}"


@dataclass(frozen=True)
class ErrorFigure:
    """An error rate reported by a paper, with the protocol that produced it."""

    top1: float | None
    top5: float | None
    dataset: str
    protocol: str
    source: str

    def describe(self) -> str:
        parts = []
        if self.top1 is not None:
            parts.append(f"top-1 {self.top1:.2f}%")
        if self.top5 is not None:
            parts.append(f"top-5 {self.top5:.2f}%")
        return f"{' / '.join(parts)} error, {self.dataset}, {self.protocol} [{self.source}]"


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper's per-layer table (e.g. GoogLeNet's Table 1), for `summary`."""

    module: str
    params: int | None
    macs: int | None


@dataclass(frozen=True)
class PaperFigures:
    """Reference figures for one registered model, at its default input size and classes."""

    source: str
    paper_params: float | None = None
    paper_macs: float | None = None
    ref_params: int | None = None
    ref_gmacs: float | None = None
    ref_params_with_aux: int | None = None
    ref_source: str = "computed from the paper's specification"
    errors: tuple[ErrorFigure, ...] = ()
    rel_tol: float = 0.02
    accepted_deviation: str | None = None
    rows: tuple[PaperRow, ...] = field(default=())
    notes: str = ""


def imagenet_error(
    top1: float | None,
    top5: float | None,
    protocol: str,
    source: str,
    *,
    dataset: str = "ImageNet val",
) -> ErrorFigure:
    """An error figure on ImageNet's validation set, the dataset of nearly every paper table."""
    return ErrorFigure(top1, top5, dataset, protocol, source)


# -- the papers ---------------------------------------------------------------------------------
# One record per publication; families import theirs (SENet's also names the SE variants that
# other family files register).

BN_INCEPTION_PAPER = Paper(
    key="bn_inception",
    title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
    "Covariate Shift",
    authors="Ioffe, Szegedy",
    year=2015,
    arxiv="1502.03167",
)


DENSENET_PAPER = Paper(
    key="densenet",
    title="Densely Connected Convolutional Networks",
    authors="Huang, Liu, van der Maaten, Weinberger",
    year=2016,
    arxiv="1608.06993",
)


GOOGLENET_PAPER = Paper(
    key="googlenet",
    title="Going Deeper with Convolutions",
    authors="Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich",
    year=2014,
    arxiv="1409.4842",
)


INCEPTION_V3_PAPER = Paper(
    key="inception_v3",
    title="Rethinking the Inception Architecture for Computer Vision",
    authors="Szegedy, Vanhoucke, Ioffe, Shlens, Wojna",
    year=2015,
    arxiv="1512.00567",
)


INCEPTION_V4_PAPER = Paper(
    key="inception_v4",
    title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    authors="Szegedy, Ioffe, Vanhoucke, Alemi",
    year=2016,
    arxiv="1602.07261",
)


RESNET_PAPER = Paper(
    key="resnet",
    title="Deep Residual Learning for Image Recognition",
    authors="He, Zhang, Ren, Sun",
    year=2015,
    arxiv="1512.03385",
)


RESNEXT_PAPER = Paper(
    key="resnext",
    title="Aggregated Residual Transformations for Deep Neural Networks",
    authors="Xie, Girshick, Dollár, Tu, He",
    year=2016,
    arxiv="1611.05431",
)


SENET_PAPER = Paper(
    key="senet",
    title="Squeeze-and-Excitation Networks",
    authors="Hu, Shen, Albanie, Sun, Wu",
    year=2017,
    arxiv="1709.01507",
)


VGG_PAPER = Paper(
    key="vgg",
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    authors="Simonyan, Zisserman",
    year=2014,
    arxiv="1409.1556",
)
