"""The results table: one row per scenario, then ratio rows comparing two of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.cpu import REST
from bench.scenario import Result

PERCENTILES = (50, 90, 99)
LABEL_WIDTH = 24
COLUMN_WIDTH = 9


@dataclass(frozen=True)
class Ratio:
    """A row `label`: numerator / denominator for throughput and each latency percentile."""

    label: str
    numerator: Result
    denominator: Result


def render(
    title: str,
    results: list[Result],
    ratios: list[Ratio],
    notes: list[str] | None = None,
    *,
    cores: int = 1,
) -> str:
    headings = ["req/s", *(f"p{p} ms" for p in PERCENTILES), "errors"]
    labels = [r.name for r in results] + [r.label for r in ratios]
    width = max([LABEL_WIDTH, *(len(label) + 2 for label in labels)])
    lines = [title, _row("", headings, width)]
    for result in results:
        cells = [f"{result.throughput:.0f}"]
        cells += [f"{result.percentile(p):.1f}" for p in PERCENTILES]
        cells.append(str(result.error_count))
        lines.append(_row(result.name, cells, width))
    for ratio in ratios:
        num, den = ratio.numerator, ratio.denominator
        cells = [_fraction(num.throughput, den.throughput, 2)]
        cells += [_fraction(num.percentile(p), den.percentile(p), 1) for p in PERCENTILES]
        lines.append(_row(ratio.label, cells, width))
    lines.append("")
    for result in results:
        lines.append(f"{result.name}: {_details(result)}")
    lines += notes or []
    cpu_lines = [_cpu(result, cores) for result in results if result.cpu and result.operations]
    if cpu_lines:
        lines += ["", "CPU ms per request (while measuring):", *cpu_lines]
    return "\n".join(lines) + "\n"


def _row(label: str, cells: list[str], width: int) -> str:
    return label.ljust(width) + "".join(c.ljust(COLUMN_WIDTH) for c in cells).rstrip()


def _fraction(numerator: float, denominator: float, digits: int) -> str:
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return "-"
    return f"{numerator / denominator:.{digits}f}"


def _details(result: Result) -> str:
    parts = [f"{result.operations} in {result.elapsed:.1f} s"]
    parts += [f"{count} {outcome}" for outcome, count in sorted(result.outcomes.items())]
    parts += [f"{count} failed ({kind})" for kind, count in result.errors.most_common()]
    return ", ".join(parts)


def _cpu(result: Result, cores: int) -> str:
    assert result.cpu is not None
    per_op = {**result.cpu.processes, REST: result.cpu.rest}
    # An item costs hundredths of a millisecond: one more digit tells changes apart.
    digits = 3 if "(items)" in result.name else 2
    spent = ", ".join(
        f"{name} {seconds * 1000 / result.operations:.{digits}f}"
        for name, seconds in per_op.items()
    )
    busy = result.cpu.machine_busy / (result.elapsed * cores) if result.elapsed else 0.0
    return f"  {result.name}: {spent}; machine {busy:.0%} busy"
