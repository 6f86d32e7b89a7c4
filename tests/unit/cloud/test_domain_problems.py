"""Store and domain failures carry no HTTP status; the API answers each from one table."""

from __future__ import annotations

import importlib
import pkgutil

import cloud
from cloud.domain_errors import DomainError
from cloud.problems import DOMAIN_PROBLEMS, domain_problem
from cloud.store.errors import StoreError, StoreUnavailable


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def _import_cloud() -> None:
    for module in pkgutil.walk_packages(cloud.__path__, "cloud."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def test_every_domain_failure_has_an_answer_and_no_http_status() -> None:
    _import_cloud()
    failures = _all_subclasses(DomainError) - {StoreError}  # the store's base, never raised itself
    assert len(failures) >= 19
    for failure in failures:
        assert domain_problem(failure()) is not None, f"{failure.__name__} has no answer in DOMAIN_PROBLEMS"
        assert not hasattr(failure, "status"), f"{failure.__name__} carries an HTTP status"
    assert set(DOMAIN_PROBLEMS) <= failures


def test_a_busy_store_is_503_with_its_retry_after() -> None:
    problem = domain_problem(StoreUnavailable("busy", retry_after_s=3))
    assert problem is not None and (problem.status, problem.code) == (503, "unavailable")
