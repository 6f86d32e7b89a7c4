"""Who the simulated phones' users are: when they use the phone, how tense they are, how often
they are offline, and what they do with an offer. Drawn from a seeded generator, so a fleet is the
same fleet on every run with the same seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    first_hour: float
    """Local hour of the day's first session."""
    last_hour: float
    """Local hour by which the day's last session has started (below 24: a session after midnight
    belongs to the next local day)."""
    sessions: tuple[int, int]
    """Sessions (activity windows) a day, low and high, both included."""
    calm: tuple[float, float]
    """Tension of a session on an ordinary day."""
    tense: tuple[float, float]
    """Tension of a session during a stressed period."""
    stressed_days: float
    """Share of days inside stressed periods (periods last 3 to 7 days)."""
    offline_days: float
    """Chance that a day passes with no sync at all (travel, airplane, no signal)."""
    accepts: float
    """Chance of accepting an offer the day the phone first shows it."""
    grants_push: bool


PERSONAS: Final = (
    Persona(
        name="calm",
        first_hour=7.5,
        last_hour=21.5,
        sessions=(10, 14),
        calm=(0.05, 0.3),
        tense=(0.3, 0.5),
        stressed_days=0.05,
        offline_days=0.05,
        accepts=0.6,
        grants_push=True,
    ),
    Persona(
        name="stressed_periods",
        first_hour=7.0,
        last_hour=22.0,
        sessions=(11, 16),
        calm=(0.1, 0.35),
        tense=(0.65, 0.95),
        stressed_days=0.35,
        offline_days=0.1,
        accepts=0.4,
        grants_push=True,
    ),
    Persona(
        name="night_owl",
        first_hour=12.0,
        last_hour=23.5,
        sessions=(10, 13),
        calm=(0.15, 0.4),
        tense=(0.5, 0.8),
        stressed_days=0.15,
        offline_days=0.2,
        accepts=0.5,
        grants_push=False,
    ),
)


def draw_persona(rng: np.random.Generator) -> Persona:
    return PERSONAS[int(rng.integers(0, len(PERSONAS)))]


def stressed_calendar(rng: np.random.Generator, persona: Persona, days: int) -> list[bool]:
    """Which of ``days`` days fall inside a stressed period: periods of 3 to 7 days whose starts are
    drawn so that about ``persona.stressed_days`` of the days are covered."""
    stressed = [False] * days
    target = round(persona.stressed_days * days)
    while sum(stressed) < target:
        start = int(rng.integers(0, days))
        for day in range(start, min(days, start + int(rng.integers(3, 8)))):
            stressed[day] = True
    return stressed
