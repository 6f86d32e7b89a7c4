"""Credit offers: the state machine and offline-acceptance rule (:mod:`.rules`, pure), the admin
operations over offers and profiles (:mod:`.services`), and their named errors (:mod:`.errors`).
``docs/offers.md`` describes the whole workflow."""
