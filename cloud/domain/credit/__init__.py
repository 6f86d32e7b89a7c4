"""Credit evaluation: a transparent scorecard and the empathic guardrail (pure, no I/O).

:mod:`.money` holds the integer-cents and basis-point rules, :mod:`.scorecard` turns credit
features into a proposed offer, :mod:`.guardrail` may only make that offer gentler from a stress
estimate, and :mod:`.notices` says which notices may ever wait for a calmer time. The policy is
written down in ``docs/credit-policy.md``.
"""
