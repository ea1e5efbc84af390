"""Fixtures shared by the node adapter's tests (no Django needed)."""
