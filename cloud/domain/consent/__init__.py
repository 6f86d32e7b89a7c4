"""Consent as the cloud holds it: which scopes are granted, and which change of them wins."""
