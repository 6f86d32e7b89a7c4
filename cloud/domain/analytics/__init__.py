"""Analytics over randomized-response reports: debiased population estimates and per-user stress.

:mod:`.estimators` and :mod:`.posterior` are pure numpy; :mod:`.signal` is the interface the
offers domain consumes; :mod:`.services` reads the store.
"""
