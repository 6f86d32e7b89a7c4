"""The live operator dashboard: ``/dashboard`` and its snapshot and event stream."""
