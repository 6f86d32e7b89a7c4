"""The outbox as one concept: its kinds and their payloads (:mod:`.kinds`), and turning rows into
queued jobs after a commit (:mod:`.enqueue`). The store inserts rows (``insert_outbox``), the
worker maps each kind to its job (``cloud.workers.jobs.JOBS``), and the relay and the operators'
actions work on rows whatever their kind."""
