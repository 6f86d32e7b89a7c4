"""Which protocol version brought each mutation type: a request of an older one may not push it."""

from __future__ import annotations

import pytest

from sync.limits import PROTOCOL_VERSION, SUPPORTED_PROTOCOLS
from sync.messages import MUTATION_TYPES
from sync.push import MUTATION_SINCE_PROTOCOL, mutation_known_to


def test_every_mutation_type_has_the_protocol_that_brought_it() -> None:
    assert set(MUTATION_SINCE_PROTOCOL) == {cls.__name__ for cls in MUTATION_TYPES}
    assert max(MUTATION_SINCE_PROTOCOL.values()) == PROTOCOL_VERSION
    assert all(v in SUPPORTED_PROTOCOLS for v in MUTATION_SINCE_PROTOCOL.values())


@pytest.mark.parametrize(
    ("name", "protocol", "known"),
    [
        ("AcceptOffer", 1, True),
        ("AcceptOffer", 2, True),
        ("RequestReview", 1, False),
        ("RequestReview", 2, True),
        ("Nonsense", 2, False),
    ],
)
def test_mutation_known_to(name: str, protocol: int, known: bool) -> None:
    assert mutation_known_to(name, protocol) is known
