"""Accuracy of the cloud's randomized-response analytics against simulated truth, in one run.

Prints (nothing is asserted here; the unit tests assert bands on smaller runs):

- population: bias and 95% normal-interval coverage of a debiased three-level distribution, for a
  few report counts at epsilon 0.5 and a mixed-epsilon population;
- per user: 90% credible-interval coverage of theta (P(high-stress day)) for users whose theta
  is drawn from the Beta(1, 4) prior, per epsilon and window length, with the mean interval
  width and the calibration of P(high on the most recent day);
- how far a week of reports moves the posterior: mean posterior for users with a fixed theta.

Run: ``python -m bench.privacy_analytics [--seed N] [--trials N] [--users N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from cloud.domain.analytics.estimators import krr_probabilities
from cloud.domain.analytics.posterior import BetaPrior, theta_posterior
from cloud.domain.analytics.simulation import population_trial, user_days, user_trial
from edge_sdk.privacy.settings import PrivacySettings

TRUTH = (0.5, 0.3, 0.2)

_DEFAULTS = PrivacySettings()
_STRESS = (_DEFAULTS.stress_levels, round(_DEFAULTS.field_epsilons()[0], 6))
USER_CONFIGS = [
    (*_STRESS, 7),
    (*_STRESS, 30),
    (3, 0.5, 7),
    (3, 0.5, 30),
    (2, 1.0, 7),
]
"""(k, epsilon, days) per row: the edge's stress default first, then alternatives for comparison."""


def population_table(rng: np.random.Generator, trials: int) -> Table:
    table = Table(title=f"Population stress distribution, truth {TRUTH}, {trials} trials per row")
    for col in (
        "reports (epsilon x n)",
        "mean estimate",
        "max |bias|",
        "SE (level 2)",
        "95% coverage",
        "ms/est",
    ):
        table.add_column(col)
    configs = [
        ((0.5, 200),),
        ((0.5, 1000),),
        ((0.5, 5000),),
        ((0.5, 1500), (1.0, 1000)),
    ]
    for groups in configs:
        start = time.perf_counter()
        trial = population_trial(rng, TRUTH, groups, trials)
        ms = (time.perf_counter() - start) * 1000 / trials
        table.add_row(
            " + ".join(f"{e}x{n}" for e, n in groups),
            np.array2string(trial.mean_estimate, precision=3),
            f"{np.max(np.abs(trial.mean_estimate - trial.truth)):.4f}",
            f"{trial.std_estimate[2]:.3f}",
            np.array2string(trial.coverage, precision=3),
            f"{ms:.2f}",
        )
    return table


def user_table(rng: np.random.Generator, users: int) -> Table:
    prior = BetaPrior()
    table = Table(title=f"Per-user P(high stress), theta ~ Beta(1, 4), {users} users per row")
    for col in (
        "k",
        "epsilon",
        "days",
        "p(release true)",
        "90% coverage",
        "mean width",
        "P(recent high)",
        "truly high",
    ):
        table.add_column(col)
    for k, epsilon, days in USER_CONFIGS:
        trial = user_trial(rng, prior, users, days, k, epsilon)
        table.add_row(
            f"{k}",
            f"{epsilon}",
            f"{days}",
            f"{krr_probabilities(k, epsilon)[0]:.3f}",
            f"{trial.coverage:.3f}",
            f"{trial.mean_interval_width:.3f}",
            f"{trial.mean_prob_recent_high:.3f}",
            f"{trial.share_recent_high:.3f}",
        )
    return table


def separation_table(rng: np.random.Generator, users: int) -> Table:
    table = Table(title="Mean posterior P(high-stress day) after a window, prior Beta(1, 4)")
    for col in ("k", "epsilon", "days", "theta 0.1", "theta 0.3", "theta 0.6"):
        table.add_column(col)
    for k, epsilon, days in USER_CONFIGS:
        cells = []
        for theta in (0.1, 0.3, 0.6):
            means = [
                theta_posterior(*user_days(rng, theta, days, k, epsilon)[:2], BetaPrior()).mean
                for _ in range(users)
            ]
            cells.append(f"{np.mean(means):.3f} ± {np.std(means):.3f}")
        table.add_row(f"{k}", f"{epsilon}", f"{days}", *cells)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Accuracy of the randomized-response analytics")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--users", type=int, default=4000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    console = Console(width=120)
    console.print(population_table(rng, args.trials))
    console.print(user_table(rng, args.users))
    console.print(separation_table(rng, max(args.users // 10, 100)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
