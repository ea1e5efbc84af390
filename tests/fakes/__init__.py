"""Local stand-ins for outside services the hub cannot reach in tests (e.g. Zenodo)."""
