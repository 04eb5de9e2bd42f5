"""Classification metrics from logits: top-k hits, a confusion matrix and what follows from it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...]) -> list[int]:
    """How many rows have the target among the k highest logits, for each k."""
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices
    hits = top.eq(target.unsqueeze(1))
    return [int(hits[:, : min(k, maxk)].any(dim=1).sum()) for k in ks]


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[true, predicted]`` counts (int64)."""
    idx = target.to(torch.int64) * num_classes + pred.to(torch.int64)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


@dataclass
class EvalResult:
    """Accumulated over an evaluation: loss sum, top-5 hits and the confusion matrix."""

    num_classes: int
    loss_sum: float = 0.0
    top5_hits: int = 0
    cm: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.cm is None:
            self.cm = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)

    def add(self, logits: torch.Tensor, target: torch.Tensor, loss_sum: float = 0.0) -> None:
        logits, target = logits.detach().float().cpu(), target.cpu()
        self.loss_sum += loss_sum
        self.top5_hits += topk_correct(logits, target, (5,))[0]
        self.cm += confusion_matrix(logits.argmax(1), target, self.num_classes)

    @property
    def count(self) -> int:
        return int(self.cm.sum())

    @property
    def top1(self) -> float:
        return float(self.cm.diag().sum()) / max(self.count, 1)

    @property
    def top5(self) -> float:
        return self.top5_hits / max(self.count, 1)

    @property
    def reported_top5(self) -> float | None:
        """Top-5 where it says something: None with 5 classes or fewer (then it is always 1)."""
        return self.top5 if self.num_classes > 5 else None

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    def per_class(self) -> list[float]:
        totals = self.cm.sum(dim=1).clamp(min=1)
        return (self.cm.diag().double() / totals).tolist()

    def as_tensor(self) -> torch.Tensor:
        """Flattened for an all-reduce: [loss_sum, top5_hits, *cm]."""
        head = torch.tensor([self.loss_sum, float(self.top5_hits)], dtype=torch.float64)
        return torch.cat([head, self.cm.flatten().double()])

    @classmethod
    def from_tensor(cls, t: torch.Tensor, num_classes: int) -> EvalResult:
        cm = t[2:].round().long().reshape(num_classes, num_classes)
        return cls(num_classes, float(t[0]), round(float(t[1])), cm)
