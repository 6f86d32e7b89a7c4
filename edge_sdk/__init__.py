"""Edge SDK: capture, on-device inference, privacy, local store and offline-first sync."""
