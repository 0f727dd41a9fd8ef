"""Calibration of the model's free constants against PrusaSlicer's own figures.

The per-layer geometry (:func:`printfleet.estimate.model.layer_features`) does not depend on the constants fitted
here, so a fit slices every model once and then only re-runs :func:`printfleet.estimate.model.predict`.
The objective is the scoring rule: per profile, median and 90th percentile of the absolute percentage error of
time and filament.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from printfleet.estimate.model import DEFAULT_CONSTANTS, LayerFeatures, ModelConstants, predict
from printfleet.estimate.profile import SlicerProfile

logger = logging.getLogger(__name__)

FITTED_FIELDS = (
    "thin_shell_weight",
    "retracts_per_loop",
    "retracts_per_solid_region",
    "retracts_per_sparse_line",
    "travel_distance_factor",
    "anchor_edge_factor",
)


@dataclass(frozen=True)
class Sample:
    """One model sliced for one profile, with the slicer's figures."""

    name: str
    group: str  # the profile the row belongs to (scored separately)
    features: LayerFeatures
    profile: SlicerProfile
    print_time_s: float
    filament_mm: float


def errors(samples: list[Sample], constants: ModelConstants) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Signed percentage errors (time, filament) per group."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for s in samples:
        p = predict(s.features, s.profile, constants)
        t, g = out.setdefault(s.group, ([], []))
        t.append((p.print_time_s / s.print_time_s - 1) * 100)
        g.append((p.filament_mm / s.filament_mm - 1) * 100)
    return {k: (np.array(t), np.array(g)) for k, (t, g) in out.items()}


def score(samples: list[Sample], constants: ModelConstants) -> float:
    """Lower is better: per group, median + p90/2 of |time error| and of |filament error|."""
    total = 0.0
    for t, g in errors(samples, constants).values():
        at, ag = np.abs(t), np.abs(g)
        total += np.median(at) + 0.5 * np.percentile(at, 90) + np.median(ag) + 0.5 * np.percentile(ag, 90)
    return float(total)


def fit_constants(
    samples: list[Sample],
    start: ModelConstants = DEFAULT_CONSTANTS,
    *,
    rounds: int = 4,
    fields: tuple[str, ...] = FITTED_FIELDS,
) -> ModelConstants:
    """Coordinate search (multiplicative steps) on ``fields`` minimising :func:`score`."""
    best = start
    best_score = score(samples, best)
    for r in range(rounds):
        step = 0.5 / (r + 1)
        for name in fields:
            value = getattr(best, name)
            for factor in (1 + step, 1 / (1 + step), 1 + step / 3, 1 / (1 + step / 3)):
                candidate = dataclasses.replace(best, **{name: value * factor if value else step})
                s = score(samples, candidate)
                if s < best_score - 1e-9:
                    best, best_score = candidate, s
                    value = getattr(best, name)
        logger.info("fit round %d: score %.2f", r, best_score)
    return best
