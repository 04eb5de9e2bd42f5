"""Check every registered model's parameters and mult-adds against its paper.

For each model: the computed parameter count and mult-adds (at the paper's input size, with the
model's default classes) beside (1) the paper's printed figure, which must agree within its
relative tolerance (2% unless stated: the papers print two or three significant figures), and
(2) the reference count of the faithful network, which must agree exactly (params) or to the
third decimal (G mult-adds). A paper figure that the faithful network cannot meet is reported as
an *accepted deviation* when the model's figures explain why; all explanations are printed
together at the end. Anything else that disagrees is a failure.

Parameters are those of the inference network: auxiliary classifiers (training-only heads,
which the papers do not count) are left out of ``params`` and checked as a total against
``ref_params_with_aux`` where the model registers one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models.registry import model_info
from ..runtime.table import format_table
from .summary import summarize

__all__ = ["Check", "VerifyResult", "render_results", "verify_model"]


@dataclass
class Check:
    """One figure of a model against its expected value (the paper's or the reference's)."""

    what: str  # "paper params", "reference G mult-adds", ...
    expected: float
    computed: float
    tolerance: str
    ok: bool

    @property
    def deviation(self) -> float:
        return (self.computed - self.expected) / self.expected if self.expected else 0.0


@dataclass
class VerifyResult:
    """Every check of one model, and the accepted deviation that explains a failed one."""

    name: str
    params: int  # without auxiliary classifiers
    macs: int
    checks: list[Check] = field(default_factory=list)
    accepted_deviation: str | None = None

    @property
    def status(self) -> str:
        if all(c.ok for c in self.checks):
            return "pass"
        return "accepted" if self.accepted_deviation else "FAIL"

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


def verify_model(name: str) -> VerifyResult:
    """The computed parameters and mult-adds of model ``name`` against its registered figures
    (see the module docstring)."""
    info = model_info(name)
    fig = info.figures
    profile = summarize(name)
    params = profile.inference_params
    result = VerifyResult(name, params, profile.macs)
    tol = f"+/-{fig.rel_tol:.0%}"
    gmacs = profile.macs / 1e9
    if fig.paper_params is not None:
        ok = abs(params - fig.paper_params) <= fig.rel_tol * fig.paper_params
        result.checks.append(Check("paper params", fig.paper_params, params, tol, ok))
    if fig.paper_macs is not None:
        ok = abs(profile.macs - fig.paper_macs) <= fig.rel_tol * fig.paper_macs
        result.checks.append(Check("paper mult-adds", fig.paper_macs, profile.macs, tol, ok))
    if fig.ref_params is not None:
        ok = params == fig.ref_params
        result.checks.append(Check("ref params", fig.ref_params, params, "exact", ok))
    if fig.ref_params_with_aux is not None:
        ok = profile.params == fig.ref_params_with_aux
        what = "ref params with aux"
        result.checks.append(Check(what, fig.ref_params_with_aux, profile.params, "exact", ok))
    if fig.ref_gmacs is not None:
        ok = round(gmacs, 3) == round(fig.ref_gmacs, 3)
        result.checks.append(Check("ref G mult-adds", fig.ref_gmacs, gmacs, "3 decimals", ok))
    if not all(c.ok for c in result.checks):
        result.accepted_deviation = fig.accepted_deviation
    return result


def _fmt(value: float | None, what: str) -> str:
    if value is None:
        return "-"
    if "G mult-adds" in what:
        return f"{value:.3f}G"
    if "mult-adds" in what:
        return f"{value / 1e9:.3f}G"
    return f"{value / 1e6:.3f}M" if value >= 1e6 else f"{value / 1e3:.1f}K"


def render_results(results: list[VerifyResult]) -> str:
    """A table of every check, a count of passes, accepted deviations and failures, then the
    accepted deviations' explanations."""
    header = [
        "model",
        "params",
        "G mult-adds",
        "check",
        "expected",
        "computed",
        "dev",
        "tol",
        "result",
    ]
    rows: list[list[str]] = []
    for r in results:
        first = [r.name, f"{r.params:,}", f"{r.macs / 1e9:.3f}"]
        if not r.checks:
            rows.append([*first, "(no reference figure)", "", "", "", "", r.status])
        for i, c in enumerate(r.checks):
            lead = first if i == 0 else ["", "", ""]
            rows.append(
                [
                    *lead,
                    c.what,
                    _fmt(c.expected, c.what),
                    _fmt(c.computed, c.what),
                    f"{c.deviation:+.2%}",
                    c.tolerance,
                    ("ok" if c.ok else ("accepted" if r.accepted_deviation else "FAIL")),
                ]
            )
    lines = [format_table(header, rows)]
    n_fail = sum(not r.passed for r in results)
    n_acc = sum(r.status == "accepted" for r in results)
    lines.append("")
    lines.append(
        f"{len(results)} models: {len(results) - n_fail - n_acc} pass, {n_acc} accepted "
        f"deviation(s), {n_fail} fail. Mult-adds at each paper's input size, one image; the "
        "papers' 'FLOPs' are multiply-adds."
    )
    accepted = [r for r in results if r.status == "accepted"]
    if accepted:
        lines += ["", "Accepted deviations from the papers' printed figures:"]
        lines += [f"- {r.name}: {r.accepted_deviation}" for r in accepted]
    return "\n".join(lines)
