"""arq worker process: ``python -m cloud.workers``."""
