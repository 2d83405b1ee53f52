"""Stats: the A/B statistics of experiment reports, as GrowthBook's engine (`gbstats`) computes them.

Pure functions of per-arm sufficient statistics (`n` units, `sum` and `sum_squares` of the
per-unit metric; a proportion metric needs only `n` and `sum`):

- `frequentist`: two-sided Welch t-test on the relative difference (treatment / control - 1),
  its variance by the delta method, Welch-Satterthwaite degrees of freedom;
- `bayesian`: the effect test with an improper flat prior (the posterior of the relative
  difference is normal with the same mean and delta-method variance): 95 % interval, chance to
  beat control and the risks;
- `srm`: the sample-ratio-mismatch chi-square test of observed units against configured weights.

`tests/test_stats.py` checks them against 60 cases computed by gbstats 0.8.0 to 1e-6;
docs/reports.md gives every formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Literal

Kind = Literal["proportion", "mean"]
ALPHA = 0.05  # two-sided 95 % intervals
SRM_THRESHOLD = 0.001  # an SRM p-value below this flags the split as broken


@cache
def _scipy() -> ModuleType:
    """scipy.stats, imported on the first report (it costs a second of start-up that decisions don't need)."""
    import importlib

    return importlib.import_module("scipy.stats")


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of one arm and metric: units, sum and sum of squares of the per-unit value."""

    n: int
    sum: float
    sum_squares: float = 0.0

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    def variance(self, kind: Kind) -> float:
        """p(1-p) for a proportion; the sample variance (n - 1) for a mean."""
        if self.n == 0:
            return 0.0
        if kind == "proportion":
            p = self.mean
            return p * (1.0 - p)
        if self.n < 2:
            return 0.0
        return max(0.0, (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1))

    def merged(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One arm against control on the relative scale (0.10 = +10 %); None where undefined."""

    uplift: float | None
    stddev: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    chance_to_win: float | None
    bayes_ci: tuple[float, float] | None
    risk: tuple[float, float] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """The relative difference and its delta-method variance, with Welch's degrees of freedom."""

    mean: float
    variance: float
    dof: float


def relative_delta(control: Moments, treatment: Moments, kind: Kind) -> Delta | str:
    """The relative difference of means, or why it is undefined."""
    if control.n < 2 or treatment.n < 2:
        return "not enough units"
    mean_c, mean_t = control.mean, treatment.mean
    if mean_c == 0:
        return "zero control mean"
    var_c, var_t = control.variance(kind), treatment.variance(kind)
    if var_c <= 0 or var_t <= 0:  # as gbstats: either arm without variance has no interval (and no 500)
        return "zero variance"
    variance = var_t / (treatment.n * mean_c**2) + var_c * mean_t**2 / (control.n * mean_c**4)
    a, b = var_c / control.n, var_t / treatment.n
    dof = (a + b) ** 2 / (a * a / (control.n - 1) + b * b / (treatment.n - 1))
    return Delta(mean_t / mean_c - 1.0, variance, dof)


def frequentist(delta: Delta, alpha: float = ALPHA) -> tuple[tuple[float, float], float]:
    """The (1 - alpha) t interval and the two-sided p-value of the relative difference."""
    sp = _scipy()
    stddev = math.sqrt(delta.variance)
    half = float(sp.t.ppf(1 - alpha / 2, delta.dof)) * stddev
    p_value = 2.0 * float(sp.t.sf(abs(delta.mean / stddev), delta.dof))
    return (delta.mean - half, delta.mean + half), p_value


def bayesian(delta: Delta, alpha: float = ALPHA) -> tuple[tuple[float, float], float, tuple[float, float]]:
    """Flat prior: the normal posterior's interval, chance to win, and risk (of control, of treatment)."""
    sp = _scipy()
    mu, sigma = delta.mean, math.sqrt(delta.variance)
    z = float(sp.norm.ppf(1 - alpha / 2))
    chance = float(sp.norm.sf(0.0, loc=mu, scale=sigma))
    p_lose = 1.0 - chance
    # mean of the posterior truncated to (0, inf) and (-inf, 0)
    mean_pos = float(sp.truncnorm.mean(-mu / sigma, math.inf, loc=mu, scale=sigma)) if chance > 0 else 0.0
    mean_neg = float(sp.truncnorm.mean(-math.inf, -mu / sigma, loc=mu, scale=sigma)) if p_lose > 0 else 0.0
    risk = (chance * mean_pos, -p_lose * mean_neg)
    return (mu - z * sigma, mu + z * sigma), chance, risk


def compare(control: Moments, treatment: Moments, kind: Kind) -> Comparison:
    """Treatment against control: frequentist and Bayesian results on the relative scale."""
    delta = relative_delta(control, treatment, kind)
    if isinstance(delta, str):
        return Comparison(None, None, None, None, None, None, None, delta)
    ci, p_value = frequentist(delta)
    bayes_ci, chance, risk = bayesian(delta)
    return Comparison(delta.mean, math.sqrt(delta.variance), ci, p_value, chance, bayes_ci, risk)


@dataclass(frozen=True, slots=True)
class Srm:
    p_value: float | None
    ok: bool


def srm(observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> Srm:
    """Chi-square goodness of fit of units per arm against the configured weights (k - 1 d.o.f.)."""
    total = sum(observed)
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0 or len(observed) < 2:
        return Srm(None, True)
    chi2 = 0.0
    for units, weight in zip(observed, weights, strict=True):
        expected = total * weight / weight_sum
        if expected > 0:
            chi2 += (units - expected) ** 2 / expected
    p_value = float(_scipy().chi2.sf(chi2, len(observed) - 1))
    return Srm(p_value, p_value >= threshold)
