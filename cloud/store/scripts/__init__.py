"""Transaction scripts: each use case of the store written once, over :class:`cloud.store.tx.Tx`."""
