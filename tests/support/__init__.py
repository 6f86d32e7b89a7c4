"""Test support shared by integration, chaos and benchmark code."""
