"""``POST /v1/sync``: push under the exactly-once rule, then pull a page of changes."""
