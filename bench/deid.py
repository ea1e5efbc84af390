#!/usr/bin/env python
"""De-identification: the node adapter against Orthanc's own anonymizer, same instances.

    python bench/deid.py              # 2,000 CT instances (512 x 512, 16 bits; about 2 minutes)
    python bench/deid.py --quick      # 300 instances (under a minute)
    python bench/deid.py --instances N

The instances are CT slices from node_adapter.tests.dicom_factory (realistic PHI at the top
level, in nested sequences and in private tags) with a 512 x 512, 16-bit phantom image, as
a CT scanner writes them (about 0.5 MB each), one study of 4 x 25 slices per patient. In one run:

- ours: node_adapter.ingest.ingest(FolderSource, Lake) in two worker processes, each taking
  a folder with every other series; timed from the moment both workers are ready (imports
  done) until both have finished: read each file, parse, de-identify (PS3.15 Basic Profile,
  keyed pseudonyms and UIDs), write it atomically into the lake (fsync'ed), hash it
  (SHA3-256), index it, record the crosswalk;
- Orthanc (Debian's, the same machine): the same instances uploaded beforehand (not
  timed), then `POST /instances/<id>/anonymize` with an empty body (Orthanc's default:
  its PS3.15 Basic Profile table, private tags removed, new random UIDs) for each, from two
  client threads; each answer (the anonymized file) is written to disk as it arrives.
- a PHI-leak scan of every file our run wrote to the lake, and of Orthanc's answers, for
  every original PHI value (node_adapter.tests.dicom_factory.phi_values).

It prints a table and ends with one `TARGET ...` line per goal. See bench/README.md.
"""

from __future__ import annotations

import argparse
import array
import math
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORK_DIR = ROOT / "var" / "bench"
SIZE = 512  # rows and columns of each slice
SERIES_PER_STUDY = 4
SLICES_PER_SERIES = 25
WORKERS = 2
SPEED_GOAL = 1.0
PIXEL_DATA = (0x7FE0, 0x0010)

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


# --- the instances -------------------------------------------------------------------


def phantom(size: int) -> bytes:
    """A 16-bit CT slice: air around a water-like body with a denser spine, stored values
    with RescaleIntercept -1024 (air 0, water 1024, bone about 2000)."""
    pixels = array.array("H", bytes(2 * size * size))
    centre, body, spine = size / 2, size * 0.42, size * 0.08
    for y in range(size):
        for x in range(size):
            r = math.hypot(x - centre, y - centre)
            if math.hypot(x - centre, y - centre * 1.4) < spine:
                pixels[y * size + x] = 2000 + (x * 7 + y * 3) % 60
            elif r < body:
                pixels[y * size + x] = 1000 + (x * 5 + y * 11) % 50
    if sys.byteorder != "little":
        pixels.byteswap()
    return pixels.tobytes()


def as_ct_slice(ds, pixel_bytes: bytes, size: int) -> None:
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.PixelSpacing = ["0.7", "0.7"]
    ds.SliceThickness = "1.25"
    ds.ImagePositionPatient = ["-179", "-179", str(-1.25 * ds.InstanceNumber)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.KVP, ds.XRayTubeCurrent = "120", "250"
    ds.PixelData = pixel_bytes


@dataclass
class Generated:
    halves: list[Path]  # one folder per worker
    files: list[Path]
    phi: set[str]
    bytes: int


def generate(n: int, folder: Path, size: int) -> Generated:
    """`n` CT instances in studies of SERIES_PER_STUDY x SLICES_PER_SERIES, one patient per
    study; series alternate between two folders (one per worker), so both get the same
    work and each patient reaches the lake from both processes, as from two modalities."""
    import pydicom

    from node_adapter.tests.dicom_factory import make_study, phi_values

    pixel_bytes = phantom(size)
    halves = [folder / f"half-{k}" for k in range(WORKERS)]
    files: list[Path] = []
    phi: set[str] = set()
    per_study = SERIES_PER_STUDY * SLICES_PER_SERIES
    for number in range(math.ceil(n / per_study)):
        datasets = make_study(
            f"MRN{7_340_000 + number * 37}",
            f"{SURNAMES[number % len(SURNAMES)]}^{GIVEN[number % len(GIVEN)]}^{number}",
            f"19{40 + number % 50:02d}{1 + number % 12:02d}{1 + number % 28:02d}",
            "FM"[number % 2],
            issuer=f"HOSP-{'AB'[number % 2]}",
            series=SERIES_PER_STUDY,
            instances=SLICES_PER_SERIES,
            accession=f"A{90_000_000 + number * 101}",
        )[: n - len(files)]
        phi |= phi_values(datasets)
        for k, ds in enumerate(datasets):
            as_ct_slice(ds, pixel_bytes, size)
            series = number * SERIES_PER_STUDY + int(ds.SeriesNumber)
            path = halves[series % WORKERS] / f"patient-{number:03d}" / f"{k:04d}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            pydicom.dcmwrite(path, ds, enforce_file_format=True)
            files.append(path)
    return Generated(halves, files, phi, sum(p.stat().st_size for p in files))


SURNAMES = ("GARCIA", "MUELLER", "ROSSI", "DUBOIS", "NOWAK", "SILVA", "JANSSEN", "KOWALSKI")
GIVEN = ("MARIA", "JOHANNES", "GIULIA", "PIERRE", "ANNA", "JOAO", "SANNE", "PIOTR")


# --- ours ------------------------------------------------------------------------------


@dataclass
class Run:
    instances: int
    seconds: float
    cpu_seconds: float  # every process and thread of the side, user + system
    detail: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.instances / self.seconds


def ours_worker(folder: str, lake_root: str, secret: bytes, ready, go, results) -> None:
    """(a worker process) Ingest one folder into the shared lake once told to start."""
    from node_adapter.deid import DeidConfig
    from node_adapter.ingest import ingest
    from node_adapter.lake import Lake
    from node_adapter.sources import FolderSource

    config = DeidConfig(site_secret=secret, site_id="bench-site")
    lake = Lake(Path(lake_root))
    source = FolderSource(Path(folder))
    ready.release()
    go.wait()
    start, cpu = time.monotonic(), time.process_time()
    with lake:
        report = ingest(source, lake, config, dataset=None)
    results.put(
        {
            "start": start,
            "end": time.monotonic(),
            "cpu": time.process_time() - cpu,
            "received": report.received,
            "stored": report.stored,
            "unchanged": report.unchanged,
            "quarantined": report.quarantined,
            "reasons": dict(report.reasons),
        }
    )


def ours(halves: list[Path], lake_root: Path, n: int) -> Run:
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    secret = secrets.token_bytes(32)
    workers = [
        context.Process(
            target=ours_worker, args=(str(half), str(lake_root), secret, ready, go, results)
        )
        for half in halves
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    start = time.monotonic()
    go.set()
    outcomes = [results.get() for _ in workers]
    seconds = time.monotonic() - start
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a worker process failed (exit {worker.exitcode})")
    detail = {
        key: sum(o[key] for o in outcomes)
        for key in ("received", "stored", "unchanged", "quarantined")
    }
    detail["reasons"] = {r: c for o in outcomes for r, c in o["reasons"].items()}
    detail["worker_seconds"] = [round(o["end"] - o["start"], 2) for o in outcomes]
    cpu = sum(o["cpu"] for o in outcomes)
    return Run(instances=n, seconds=seconds, cpu_seconds=cpu, detail=detail)


# --- Orthanc -------------------------------------------------------------------------


def upload_all(orthanc, files: list[Path]) -> list[str]:
    """Every file POSTed to Orthanc from two threads (not timed); their Orthanc IDs."""
    import requests

    from node_adapter.tests.orthanc_server import upload

    ids: list[str | None] = [None] * len(files)

    def work(k: int) -> None:
        with requests.Session() as session:
            for index in range(k, len(files), WORKERS):
                ids[index] = upload(orthanc, files[index].read_bytes(), session)

    run_threads(work)
    return [i for i in ids if i is not None]


def run_threads(work) -> None:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def theirs(orthanc, ids: list[str], out: Path) -> Run:
    """POST /instances/<id>/anonymize for each, two client threads; answers to disk."""
    import requests

    failures: list[int] = []
    sessions = [requests.Session() for _ in range(WORKERS)]
    for k in range(WORKERS):
        (out / f"thread-{k}").mkdir(parents=True)

    def work(k: int) -> None:
        session = sessions[k]
        for index in range(k, len(ids), WORKERS):
            response = session.post(
                f"{orthanc.url}/instances/{ids[index]}/anonymize",
                json={},
                auth=orthanc.auth,
                timeout=120,
            )
            if response.status_code != 200:
                failures.append(response.status_code)
                continue
            (out / f"thread-{k}" / f"{index:05d}.dcm").write_bytes(response.content)

    start, cpu, server_cpu = time.monotonic(), time.process_time(), process_cpu(orthanc.pid)
    run_threads(work)
    seconds = time.monotonic() - start
    cpu = time.process_time() - cpu + process_cpu(orthanc.pid) - server_cpu
    for session in sessions:
        session.close()
    detail = {"failures": len(failures)}
    return Run(instances=len(ids), seconds=seconds, cpu_seconds=cpu, detail=detail)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def orthanc_version(orthanc) -> str:
    import requests

    return requests.get(orthanc.url + "/system", auth=orthanc.auth, timeout=10).json()["Version"]


# --- the leak scan -------------------------------------------------------------------


def header_bytes(data: bytes) -> bytes:
    """A file up to its Pixel Data element (explicit VR little endian tag bytes). The
    image is the generator's phantom, the same in and out; scanning 0.5 MB of pixels for
    short strings would only find chance matches."""
    cut = data.rfind(b"\xe0\x7f\x10\x00")
    return data if cut < 0 else data[:cut]


def scan(files: list[Path], phi: set[str]) -> tuple[int, dict[str, int]]:
    """(files with a leak, hits per PHI value) over every element but the pixel data,
    nested sequences and private tags included."""
    needles = [(value, value.encode()) for value in phi]
    leaky, hits = 0, {}
    for path in files:
        head = header_bytes(path.read_bytes())
        found = [value for value, needle in needles if needle in head]
        if found:
            leaky += 1
            for value in found:
                hits[value] = hits.get(value, 0) + 1
    return leaky, hits


def lake_files(lake_root: Path) -> list[Path]:
    return [p for p in lake_root.rglob("*.dcm") if ".agora" not in p.relative_to(lake_root).parts]


def redact(value: str) -> str:
    """A found value, recognisable but not printed in full (synthetic, but still)."""
    return value[:3] + "…" if len(value) > 4 else value[:1] + "…"


# --- the report ----------------------------------------------------------------------


def report(
    g: Generated, mine: Run, other: Run, version: str, leaks: dict, quick: bool, size: int
) -> bool:
    n = len(g.files)
    rows = [
        ("ours: FolderSource + ingest, 2 processes", mine),
        (f"Orthanc {version}: POST /instances/<id>/anonymize, 2 threads", other),
    ]
    print()
    print(
        f"{n:,} CT instances, {size} x {size} x 16 bits, {g.bytes / 1e6:,.0f} MB, "
        f"{math.ceil(n / (SERIES_PER_STUDY * SLICES_PER_SERIES))} patients; "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print("| step | instances | seconds | instances/s | ratio | CPU s | instances/CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, run in rows:
        ratio = run.rate / other.rate
        print(
            f"| {name} | {run.instances:,} | {run.seconds:.2f} | {run.rate:,.1f} | {ratio:.2f} "
            f"| {run.cpu_seconds:.2f} | {run.instances / run.cpu_seconds:,.1f} |"
        )
    print()
    d = mine.detail
    print(
        f"ours: received {d['received']:,}, stored {d['stored']:,}, unchanged {d['unchanged']:,}, "
        f"quarantined {d['quarantined']:,}; each worker {d['worker_seconds']} s"
    )
    for reason, count in d["reasons"].items():
        print(f"  quarantined: {reason} ({count})")
    print(
        f"Orthanc: {other.instances - other.detail['failures']:,} answered 200, "
        f"{other.detail['failures']} failed"
    )
    for side in ("ours", "orthanc"):
        leaky, hits, scanned = leaks[side]
        print(f"leak scan, {side}: {scanned:,} files, {leaky:,} with a PHI value")
        for value, count in sorted(hits.items(), key=lambda item: -item[1])[:10]:
            print(f"  found {redact(value)!r} ({len(value)} characters) in {count:,} files")
    ratio = mine.rate / other.rate
    ours_leaks = leaks["ours"][0]
    complete = d["stored"] == n and leaks["ours"][2] == n
    if not complete:
        print(f"# ours stored {d['stored']:,} of {n:,} instances: the run is incomplete")
    if quick:
        print(f"# --quick: {n:,} instances, not the full run's 2,000")
    print(
        f"# Orthanc's anonymized files with a PHI value (information, no goal): {leaks['orthanc'][0]}"
    )
    print(f"TARGET name=deid_speed_vs_orthanc measured={ratio:.2f} goal=>={SPEED_GOAL} unit=ratio")
    print(f"TARGET name=deid_phi_leaks measured={ours_leaks} goal===0 unit=leaks")
    return complete and ratio >= SPEED_GOAL and ours_leaks == 0


# --- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 instances")
    parser.add_argument("--instances", type=int, help="instances (default 2,000, quick 300)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"rows and columns ({SIZE})")
    args = parser.parse_args()
    n = args.instances or (300 if args.quick else 2_000)

    from node_adapter.tests.orthanc_server import running_orthanc

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deid-", dir=WORK_DIR))
    try:
        log(f"generating {n:,} CT instances ({args.size} x {args.size}) in {work}")
        g = generate(n, work / "source", args.size)
        log(f"{len(g.files):,} files, {g.bytes / 1e6:,.0f} MB, {len(g.phi):,} PHI values")
        with running_orthanc(workdir=work) as orthanc:
            version = orthanc_version(orthanc)
            log(f"Orthanc {version} at {orthanc.url}; uploading (not timed)")
            ids = upload_all(orthanc, g.files)
            log(f"uploaded {len(ids):,}; Orthanc anonymizes them, 2 threads")
            other = theirs(orthanc, ids, work / "orthanc-out")
            log(f"Orthanc: {other.seconds:.2f} s, {other.rate:,.1f} instances/s")
        log("ours: 2 worker processes ingest into the lake")
        mine = ours(g.halves, work / "lake", len(g.files))
        log(f"ours: {mine.seconds:.2f} s, {mine.rate:,.1f} instances/s; leak scans")
        ours_files = lake_files(work / "lake")
        their_files = sorted((work / "orthanc-out").rglob("*.dcm"))
        leaks = {
            "ours": (*scan(ours_files, g.phi), len(ours_files)),
            "orthanc": (*scan(their_files, g.phi), len(their_files)),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("done")
    return 0 if report(g, mine, other, version, leaks, args.quick, args.size) else 1


if __name__ == "__main__":
    sys.exit(main())
