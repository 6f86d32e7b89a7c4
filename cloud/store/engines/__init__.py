"""Store engines: adapters implementing :class:`cloud.store.tx.Tx`, migrations and the transaction
boundary."""
