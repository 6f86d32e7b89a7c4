"""The base of every named failure below the API: the store's and the domain's.

These carry no HTTP status: a store or a rule says *what* went wrong (a user that does not exist,
an offer that is not open, a seq reused with other content); the API decides how to answer it, in
one table (:data:`cloud.problems.DOMAIN_PROBLEMS`). The same failures reach a worker, which has no
HTTP to speak of.
"""

from __future__ import annotations


class DomainError(Exception):
    """A named failure of a use case; ``detail`` says which, for logs and the problem's ``detail``."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail
