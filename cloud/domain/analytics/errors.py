"""One named exception per kind of bad input to the analytics functions.

They derive from ``ValueError`` (bad arguments), not from :class:`cloud.errors.ApiError`: the
estimators are pure functions, and reports read from the store were validated on ingest. The
admin endpoints validate their own query parameters before calling them.
"""

from __future__ import annotations


class AnalyticsInputError(ValueError):
    """Base of every bad-input error of :mod:`cloud.domain.analytics`."""


class InvalidMechanism(AnalyticsInputError):
    """A report's k is below 2 or its epsilon is not a finite number above 0."""


class LevelOutOfRange(AnalyticsInputError):
    """A reported level is not an integer in ``0 .. k-1`` of its own mechanism."""


class MismatchedLengths(AnalyticsInputError):
    """The per-report arrays (levels, k, epsilon, day) are not one-dimensional of one length."""


class NoReports(AnalyticsInputError):
    """A population estimate was asked for over no reports at all."""


class InvalidPrior(AnalyticsInputError):
    """Beta prior parameters are not finite and above 0, or a population share is not in (0, 1)."""


class InvalidDayRange(AnalyticsInputError):
    """A day window is empty or its first day comes after its last."""
