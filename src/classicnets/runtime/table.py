"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Collection[int] = (),
    footer: Sequence[Sequence[str]] = (),
) -> str:
    """Columns padded to width, a rule under the header (and above a footer).

    ``right`` holds the indices of right-aligned (numeric) columns.
    """
    body = [list(header), *map(list, rows), *map(list, footer)]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(header), rule, *map(line, rows)]
    if footer:
        out += [rule, *map(line, footer)]
    return "\n".join(out)


def format_count(n: float) -> str:
    """12,345 -> '12.3K'; 25,557,032 -> '25.56M'; 3.86e9 -> '3.858G'."""
    for unit, scale, digits in (("G", 1e9, 3), ("M", 1e6, 2), ("K", 1e3, 1)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{unit}"
    return f"{n:.0f}"
