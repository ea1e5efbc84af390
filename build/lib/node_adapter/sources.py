"""Where DICOM instances come from: a folder here; Orthanc in orthanc.py, the SCP in scp.py."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger("node_adapter.sources")


class SourceError(Exception):
    """A source that cannot be read (refused credentials, unreachable): said in plain words."""


@runtime_checkable
class Source(Protocol):
    def instances(self) -> Iterator[tuple[str, bytes]]:
        """(origin label without PHI, raw DICOM bytes) for each instance."""
        ...

    def count(self) -> int | None:
        """How many instances `instances()` will yield, when known beforehand."""
        ...


class FolderSource:
    """Every file under a folder, recursively, in a stable order.

    Origins are counters ("file 17 of 230"), never file names: names written by a modality
    or a person often hold the patient's name. Hidden files (".DS_Store", "._x") are
    operating-system litter, not instances, and are skipped.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        if not self.folder.exists():
            raise FileNotFoundError(f"source folder not found: {self.folder}")
        self._paths: list[Path] | None = None

    def paths(self) -> list[Path]:
        if self._paths is None:
            if self.folder.is_file():
                self._paths = [self.folder]
            else:
                self._paths = list(_walk(self.folder))
        return self._paths

    def count(self) -> int | None:
        return len(self.paths())

    def instances(self) -> Iterator[tuple[str, bytes]]:
        paths = self.paths()
        total = len(paths)
        for number, path in enumerate(paths, start=1):
            origin = f"file {number} of {total}"
            try:
                data = path.read_bytes()
            except OSError as exc:
                log.warning("source_unreadable origin=%r error=%s", origin, type(exc).__name__)
                continue
            yield origin, data


def _walk(folder: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(directory) / name
