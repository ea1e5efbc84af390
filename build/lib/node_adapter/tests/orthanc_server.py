"""A throwaway Orthanc (Debian's package) on free loopback ports, for tests and benchmarks.

    with running_orthanc() as orthanc:
        requests.get(orthanc.url + "/system", auth=orthanc.auth)

Orthanc 1.10 has no bind option: it listens on 0.0.0.0, so `RemoteAccessAllowed` is
false (only loopback clients are answered) and basic authentication is on. Storage and
index live in a temporary directory removed at the end. Orthanc missing is a failure,
not a skip: `make test` installs it (the `system-deps` target).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc/plugins"))
DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
USERNAME = "agora"
PASSWORD = "orthanc-test-password"
STARTUP_SECONDS = 30


class OrthancMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Orthanc:
    url: str  # http://127.0.0.1:<port>
    dicom_port: int
    aet: str
    username: str
    password: str
    storage: Path
    log: Path
    pid: int  # of the Orthanc process (benchmarks read its CPU time)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)


def orthanc_binary() -> str:
    found = shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise OrthancMissing(
            "Orthanc is not installed: `make test` installs it (apt-get install orthanc "
            "orthanc-dicomweb), or install those two Debian packages yourself"
        )
    return found


def dicomweb_plugin() -> Path:
    for directory in PLUGIN_DIRS:
        if (directory / DICOMWEB_PLUGIN).exists():
            return directory / DICOMWEB_PLUGIN
    raise OrthancMissing(
        f"Orthanc's DICOMweb plugin ({DICOMWEB_PLUGIN}) is not installed: `make test` "
        "installs it (apt-get install orthanc-dicomweb)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory: Path, *, http_port: int, dicom_port: int, aet: str) -> Path:
    config = {
        "Name": "agora-test",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "Plugins": [str(dicomweb_plugin())],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        # Nothing of a test run is worth keeping or compressing.
        "StorageCompression": False,
        "SaveJobs": False,
        "HttpTimeout": 60,
    }
    path = directory / "config" / "orthanc.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(config, indent=2))
    return path.parent


def wait_until_up(orthanc: Orthanc, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Orthanc exited with status {process.returncode} at start; its log:\n"
                + orthanc.log.read_text(errors="replace")[-3000:]
            )
        try:
            response = requests.get(orthanc.url + "/system", auth=orthanc.auth, timeout=2)
            if response.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Orthanc did not answer /system within {STARTUP_SECONDS} s")


@contextmanager
def running_orthanc(*, aet: str = "ORTHANC", workdir: Path | None = None) -> Iterator[Orthanc]:
    """Start Orthanc with its own storage, yield it once /system answers, stop it."""
    binary = orthanc_binary()
    directory = Path(tempfile.mkdtemp(prefix="orthanc-", dir=workdir))
    process = None
    try:
        http_port, dicom_port = free_port(), free_port()
        config_dir = write_config(directory, http_port=http_port, dicom_port=dicom_port, aet=aet)
        log_path = directory / "orthanc.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, str(config_dir)], stdout=log, stderr=subprocess.STDOUT, cwd=directory
            )
        orthanc = Orthanc(
            url=f"http://127.0.0.1:{http_port}",
            dicom_port=dicom_port,
            aet=aet,
            username=USERNAME,
            password=PASSWORD,
            storage=directory / "storage",
            log=log_path,
            pid=process.pid,
        )
        wait_until_up(orthanc, process)
        yield orthanc
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def upload(orthanc: Orthanc, data: bytes, session: requests.Session | None = None) -> str:
    """POST one DICOM file to /instances; returns Orthanc's instance ID."""
    post = (session or requests).post
    response = post(
        orthanc.url + "/instances",
        data=data,
        auth=orthanc.auth,
        headers={"Content-Type": "application/dicom"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["ID"]
