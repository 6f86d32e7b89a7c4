"""Empathic Credit cloud service: Litestar API, store, arq workers, push."""
