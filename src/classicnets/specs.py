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
