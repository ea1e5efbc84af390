"""A real ganache node on a free loopback port, which tests can stop and restart.

Its chain lives in a directory (`--database.dbPath`), so a restart keeps every
block: that is what lets the fault tests show anchoring resume after an outage.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GANACHE = ROOT / "node_modules" / ".bin" / "ganache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GanacheNode:
    def __init__(self, db_path: Path, port: int | None = None, block_time: float = 0):
        self.db_path = Path(db_path)
        self.port = port or free_port()
        self.block_time = block_time
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> GanacheNode:
        if not GANACHE.exists():
            raise RuntimeError("ganache is not installed; run `make test` (npm install)")
        self.db_path.mkdir(parents=True, exist_ok=True)
        args = [
            str(GANACHE),
            "--server.host=127.0.0.1",
            f"--server.port={self.port}",
            "--chain.chainId=1337",
            "--wallet.deterministic",
            f"--database.dbPath={self.db_path}",
            "--logging.quiet",
        ]
        if self.block_time:
            args.append(f"--miner.blockTime={self.block_time}")
        log = open(self.db_path.parent / f"ganache-{self.port}.log", "a")  # noqa: SIM115
        # Started directly (not through npx) so the PID is the node process itself.
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ganache exited with {self.proc.returncode}; see its log")
            if self.answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ganache did not answer on port {self.port} within {timeout} s")

    def answers(self) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as answer:
                return "result" in json.loads(answer.read())
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self, **changes) -> GanacheNode:
        self.stop()
        for name, value in changes.items():
            setattr(self, name, value)
        return self.start()

    def __enter__(self) -> GanacheNode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
