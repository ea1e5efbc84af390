"""Orthanc (Debian's, on loopback) as a source: REST and DICOMweb, with credentials."""

from __future__ import annotations

import http.server
import threading
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests

from node_adapter import orthanc as orthanc_module
from node_adapter.deid import DeidConfig
from node_adapter.ingest import ingest
from node_adapter.lake import Lake
from node_adapter.orthanc import OrthancError, OrthancSource, split_multipart
from node_adapter.tests.dicom_factory import make_study, phi_values
from node_adapter.tests.orthanc_server import free_port, running_orthanc, upload

CONFIG = DeidConfig(site_secret=b"orthanc-test-site-secret-0123456789", site_id="test-site")


@pytest.fixture(scope="module")
def orthanc():
    with running_orthanc() as server:
        yield server


@pytest.fixture(scope="module")
def uploaded(orthanc):
    """Two patients from two clinics, a CT study of 2 x 3 and an MR study of 3 x 2."""
    datasets = make_study("PAT-ORTH-001", "DOE^JANE^Q", "19700304", "F", issuer="HOSP-A")
    datasets += make_study(
        "PAT-ORTH-002",
        "ROE^RICHARD",
        "19580812",
        "M",
        issuer="HOSP-B",
        modality="MR",
        series=3,
        instances=2,
        accession="ACC-55501234",
    )
    with requests.Session() as session:
        for ds in datasets:
            upload(orthanc, encode(ds), session)
    return datasets


def encode(ds: pydicom.Dataset) -> bytes:
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def lake_files(lake: Lake) -> dict[str, bytes]:
    """Every released file of the lake (the quarantine under .agora is not released)."""
    return {
        p.relative_to(lake.root).as_posix(): p.read_bytes()
        for p in lake.root.rglob("*.dcm")
        if ".agora" not in p.relative_to(lake.root).parts
    }


def leaks(files: dict[str, bytes], phi: set[str]) -> list[tuple[str, str]]:
    """(file, value) for each original PHI value found anywhere in a file's bytes: top
    level, nested sequences and private tags alike (a byte search sees them all)."""
    needles = {value: value.encode() for value in phi}
    return [
        (path, value) for path, data in files.items() for value, b in needles.items() if b in data
    ]


def source(orthanc, **kwargs) -> OrthancSource:
    return OrthancSource(
        orthanc.url, username=orthanc.username, password=orthanc.password, **kwargs
    )


@pytest.mark.parametrize("dicomweb", [False, True], ids=["rest", "dicomweb"])
def test_ingest_from_orthanc_releases_only_deidentified_files(
    orthanc, uploaded, tmp_path, monkeypatch, dicomweb
):
    # Small pages, so paging through /instances and QIDO-RS is exercised.
    monkeypatch.setattr(orthanc_module, "REST_PAGE", 4)
    monkeypatch.setattr(orthanc_module, "QIDO_PAGE", 1)
    lake = Lake(tmp_path / "lake")
    src = source(orthanc, dicomweb=dicomweb)

    assert src.count() == len(uploaded)
    report = ingest(src, lake, CONFIG, dataset="from-orthanc")

    assert (report.received, report.stored, report.quarantined) == (12, 12, 0)
    files = lake_files(lake)
    assert len(files) == 12
    assert {path.split("/")[0] for path in files} == {s for s, _ in report.studies}
    assert len(report.studies) == 2
    assert all(path.split("/")[0].startswith("sub-") for path in files)
    phi = phi_values(uploaded)
    assert leaks({"an original, as uploaded": encode(uploaded[0])}, phi)  # the scan finds PHI
    assert leaks(files, phi) == []
    manifest = lake.manifest("from-orthanc")
    assert manifest.instances == 12 and len(manifest.studies) == 2


def test_rest_and_dicomweb_lay_out_the_same_lake(orthanc, uploaded, tmp_path):
    by_rest = Lake(tmp_path / "rest")
    by_dicomweb = Lake(tmp_path / "dicomweb")
    ingest(source(orthanc), by_rest, CONFIG, dataset=None)
    ingest(source(orthanc, dicomweb=True), by_dicomweb, CONFIG, dataset=None)

    # Same site secret, same originals: same pseudonyms and UIDs whichever API delivered them.
    assert sorted(lake_files(by_rest)) == sorted(lake_files(by_dicomweb))


def test_origins_name_no_patient(orthanc, uploaded):
    phi = phi_values(uploaded)
    for dicomweb in (False, True):
        origins = [origin for origin, _data in source(orthanc, dicomweb=dicomweb).instances()]
        assert len(origins) == 12
        assert not [o for o in origins if any(value in o for value in phi)]


def test_wrong_password_is_a_clear_error(orthanc, uploaded):
    wrong = OrthancSource(orthanc.url, username=orthanc.username, password="not-the-password")
    with pytest.raises(OrthancError, match="refused the credentials"):
        wrong.count()
    with pytest.raises(OrthancError, match="HTTP 401"):
        list(OrthancSource(orthanc.url, dicomweb=True).instances())


def test_credentials_in_the_url_are_used_and_not_shown(orthanc, uploaded):
    host = orthanc.url.removeprefix("http://")
    src = OrthancSource(f"http://{orthanc.username}:{orthanc.password}@{host}")
    assert src.count() == 12
    assert orthanc.password not in repr(src) and orthanc.password not in src.url


def test_unreachable_server_is_a_clear_error():
    src = OrthancSource(f"http://127.0.0.1:{free_port()}", username="u", password="p")
    with pytest.raises(OrthancError, match="cannot reach Orthanc at http://127.0.0.1"):
        src.count()


class _NotOrthanc(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_orthanc_is_a_clear_error():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotOrthanc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        src = OrthancSource(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(OrthancError, match="not an Orthanc server"):
            list(src.instances())
    finally:
        server.shutdown()
        server.server_close()


def test_not_an_http_url_is_refused():
    with pytest.raises(OrthancError, match="not an http"):
        OrthancSource(str(Path("/srv/dicom")))


class _Answer:
    def __init__(self, content: bytes, content_type: str) -> None:
        self.content = content
        self.headers = {"Content-Type": content_type}


def test_multipart_parts_come_out_byte_for_byte():
    first = b"\x00" * 128 + b"DICM\r\n\r\n--not-the-boundary\r\n\x01\x02"
    second = b"\r\n--bou\r\nbody ending in a line break\r\n"
    body = (
        b"--b0undary-42\r\nContent-Type: application/dicom\r\n\r\n"
        + first
        + b"\r\n--b0undary-42\r\nContent-Type: application/dicom\r\nContent-Length: 33\r\n\r\n"
        + second
        + b"\r\n--b0undary-42--\r\n"
    )
    answer = _Answer(body, 'multipart/related; type="application/dicom"; boundary=b0undary-42')

    assert split_multipart(answer) == [
        ("application/dicom", first),
        ("application/dicom", second),
    ]
    with pytest.raises(OrthancError, match="not multipart"):
        split_multipart(_Answer(b"{}", "application/json"))


def test_an_instance_deleted_while_reading_is_skipped(orthanc, uploaded):
    extra = make_study("PAT-ORTH-003", "GONE^GONZO", "19990101", "M", series=1, instances=1)
    extra_id = upload(orthanc, encode(extra[0]))
    src = source(orthanc)
    instances = src.instances()

    first = next(instances)  # listed: the page holds the extra instance too
    requests.delete(f"{orthanc.url}/instances/{extra_id}", auth=orthanc.auth).raise_for_status()
    rest = list(instances)

    assert len([first, *rest]) == 12
    assert f"orthanc:{extra_id}" not in {origin for origin, _data in [first, *rest]}


def test_the_command_line_says_when_orthanc_refuses_the_credentials(orthanc, tmp_path):
    import subprocess
    import sys

    env = {"AGORA_NODE_SITE_SECRET": "a-long-enough-site-secret", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "node_adapter",
            "ingest",
            "--source",
            orthanc.url,
            "--lake",
            str(tmp_path / "lake"),
            "--orthanc-user",
            "nobody",
            "--orthanc-password",
            "wrong",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "credentials" in done.stderr.lower()
