"""Percentiles and summaries of samples, in plain Python."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel


class Summary(BaseModel):
    """A sample's size and its order statistics (nearest-rank percentiles)."""

    count: int
    min: float
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of an empty sample")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values: Sequence[float]) -> Summary:
    """Summarize ``values``; an empty sample is an error (a benchmark that measured nothing)."""
    ordered = sorted(values)
    return Summary(
        count=len(ordered),
        min=percentile(ordered, 0.0001),
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1],
        mean=sum(ordered) / len(ordered),
    )
