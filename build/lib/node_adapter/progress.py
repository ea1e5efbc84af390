"""A dependency-free progress display for long command-line runs.

On a terminal it redraws one bar on standard error; otherwise (a log file, a service
manager) it writes a log line every few seconds, so logs are not flooded with bars.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("node_adapter.progress")


class Progress:
    def __init__(
        self,
        total: int | None = None,
        *,
        label: str = "",
        stream: TextIO | None = None,
        interval: float | None = None,
        width: int = 30,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.1 if self.tty else 10.0)
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._last_shown = 0.0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last_shown >= self.interval:
            self._last_shown = now
            self._show()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._show(final=True)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            remaining = (self.total - self.done) / rate if rate else 0.0
            return (
                f"{self.label} [{bar}] {self.done}/{self.total} {fraction:4.0%} "
                f"{rate:.1f}/s eta {remaining:.0f}s"
            ).strip()
        return f"{self.label} {self.done} {rate:.1f}/s".strip()

    def _show(self, *, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
            self.stream.flush()
        else:
            log.info(
                "progress label=%s done=%d total=%s rate=%.1f final=%s",
                self.label or "-",
                self.done,
                self.total if self.total is not None else "-",
                self.rate(),
                final,
            )
