"""Host-facing API for Kotlin/Swift apps: JSON commands over the edge SDK."""
