"""The site's data lake: de-identified instances laid out once, datasets as manifests.

Layout under the lake root::

    <subject>/<study>/<series>/<sop>.dcm      one file per instance, 0600, folders 0700
    .agora/datasets/<name>/v<N>.json           one manifest per dataset version
    .agora/quarantine/<sha3>.dcm + .json       what was not released, with its reason
    .agora/crosswalk.sqlite3                   pseudonym <-> identity (written by Crosswalk)
    .agora/index.sqlite3                       per-instance summary read by describe

Each study is stored once; a dataset version only lists studies (with SHA3-256 hashes
per file and per study), so versions share the same files and nothing is ever copied.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pydicom

    from node_adapter.deid import Deidentified

log = logging.getLogger("node_adapter.lake")

DIR_MODE = 0o700
FILE_MODE = 0o600
# Pseudonyms and "2.25.<int>" UIDs only; anything else could escape the lake root.
_PATH_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION_FILE = re.compile(r"^v([0-9]+)\.json$")
# Index rows are buffered in memory and written in one short transaction, so two
# processes writing the same lake never wait on each other's open transaction.
_FLUSH_ROWS = 500
_FLUSH_SECONDS = 2.0
# Batch ingests write files from background threads (Lake.write_behind); at most this many
# encoded instances wait in memory for their turn.
WRITE_BEHIND_THREADS = 4
WRITE_BEHIND_QUEUE = 32

_INDEX_COLUMNS = (
    "subject",
    "study",
    "series",
    "sop",
    "relative_path",
    "sha3_256",
    "size",
    "modality",
    "body_part",
    "manufacturer",
    "sex",
    "age_years",
    "study_date",
)
_INDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    study TEXT NOT NULL,
    series TEXT NOT NULL,
    relative_path TEXT NOT NULL,
    sha3_256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    modality TEXT NOT NULL DEFAULT '',
    body_part TEXT NOT NULL DEFAULT '',
    manufacturer TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT '',
    age_years INTEGER,
    study_date TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS instances_study ON instances (subject, study);
"""


@dataclass(frozen=True)
class StoredInstance:
    subject: str
    study: str
    series: str
    sop: str
    relative_path: str  # "<subject>/<study>/<series>/<sop>.dcm"
    sha3_256: str
    size: int
    created: bool  # False: identical re-delivery, nothing written


@dataclass(frozen=True)
class IndexRow:
    """What describe needs of one stored instance, read from its de-identified headers."""

    subject: str
    study: str
    series: str
    sop: str
    relative_path: str
    sha3_256: str
    size: int
    modality: str
    body_part: str
    manufacturer: str
    sex: str
    age_years: int | None
    study_date: str  # YYYYMMDD or ""

    def __getitem__(self, key: str) -> Any:  # rows also read like mappings
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Manifest:
    """One version of a dataset, stored as .agora/datasets/<name>/v<version>.json."""

    dataset: str
    version: int
    created: str
    site: str
    title: str
    description: str
    studies: list[dict]  # {"subject","study","sha3_256","files":[{"path","sha3_256","size"}]}
    sha3_256: str  # over the canonical JSON of every field above

    def body(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sha3_256"}

    def to_json(self) -> str:
        return json.dumps({**self.body(), "sha3_256": self.sha3_256}, indent=2, sort_keys=True)

    def study_keys(self) -> list[tuple[str, str]]:
        return [(s["subject"], s["study"]) for s in self.studies]

    @property
    def instances(self) -> int:
        return sum(len(s["files"]) for s in self.studies)

    @property
    def size(self) -> int:
        return sum(f["size"] for s in self.studies for f in s["files"])


def canonical_json(value: Any) -> bytes:
    """The bytes hashed for a manifest: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha3_hex(data: bytes) -> str:
    return hashlib.sha3_256(data).hexdigest()


def study_digest(files: Iterable[tuple[str, str]]) -> str:
    """SHA3-256 over the sorted "<relative_path> <sha3>" lines of a study, one per line."""
    lines = sorted(f"{path} {digest}\n" for path, digest in files)
    return sha3_hex("".join(lines).encode())


class LakeIndex:
    """Read access to the per-instance summary (.agora/index.sqlite3)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[IndexRow]:
        with closing(_connect(self.path)) as conn:
            return [IndexRow(*row) for row in conn.execute(sql, tuple(params)).fetchall()]

    def rows(self, studies: Iterable[tuple[str, str]] | None = None) -> list[IndexRow]:
        """Every row, or the rows of the given (subject, study) pairs, ordered by path."""
        columns = ", ".join(_INDEX_COLUMNS)
        if studies is None:
            return self._query(f"SELECT {columns} FROM instances ORDER BY relative_path")
        wanted = set(studies)
        rows: list[IndexRow] = []
        for subject, study in sorted(wanted):
            rows.extend(self.study(subject, study))
        return rows

    def study(self, subject: str, study: str) -> list[IndexRow]:
        columns = ", ".join(_INDEX_COLUMNS)
        return self._query(
            f"SELECT {columns} FROM instances WHERE subject = ? AND study = ? "
            "ORDER BY relative_path",
            (subject, study),
        )

    def __iter__(self) -> Iterator[IndexRow]:
        return iter(self.rows())

    def __len__(self) -> int:
        with closing(_connect(self.path)) as conn:
            return conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0]


class Lake:
    """The site's data lake at `root` (created 0700 when missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.meta = self.root / ".agora"
        self.datasets_dir = self.meta / "datasets"
        self.quarantine_dir = self.meta / "quarantine"
        self.crosswalk_path = self.meta / "crosswalk.sqlite3"
        self.index_path = self.meta / "index.sqlite3"
        self._warn_if_open(self.root)
        for folder in (self.root, self.meta, self.datasets_dir, self.quarantine_dir):
            _make_dir(folder)
        self._known_dirs: set[Path] = set()
        self._lock = threading.Lock()
        self._pending: dict[str, tuple] = {}
        self._last_flush = time.monotonic()
        self._local = threading.local()
        self._published_paths: set[str] | None = None  # files named by a manifest
        self._writer: ThreadPoolExecutor | None = None
        self._writes: dict[Path, tuple[Future, str]] = {}
        self._write_slots = threading.BoundedSemaphore(WRITE_BEHIND_QUEUE)
        # Created 0600 before SQLite opens it: its -wal and -shm files copy its mode.
        os.close(os.open(self.index_path, os.O_CREAT | os.O_RDWR, FILE_MODE))
        self._conn().executescript(_INDEX_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread (the storage SCP stores from several threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.index_path)
        return conn

    @staticmethod
    def _warn_if_open(root: Path) -> None:
        # An existing root is not chmod'ed: that would reset the ACL mask the sandboxes use.
        if root.exists() and root.stat().st_mode & 0o077:
            log.warning("lake_root_open_to_others mode=%o", root.stat().st_mode & 0o777)

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.flush()

    @contextmanager
    def write_behind(self, threads: int = WRITE_BEHIND_THREADS) -> Iterator[Lake]:
        """Within it, files are written and fsync'ed by `threads` background threads while
        the caller de-identifies the next instances (the disk's latency overlaps the CPU's
        work). The index only records a file once it is durable: flush() waits for the
        writes first, and a failed write's row is never indexed. A batch ingest uses it;
        the storage SCP does not, since it confirms each instance to its sender."""
        if self._writer is not None:
            yield self
            return
        self._writer = ThreadPoolExecutor(threads, thread_name_prefix="lake-write")
        try:
            yield self
        finally:
            try:
                self.flush()
            finally:
                self._writer.shutdown(wait=True)
                self._writer = None

    def _write(self, target: Path, data: bytes, sop: str) -> None:
        if self._writer is None:
            _atomic_write(target, data)
            return
        earlier = self._writes.pop(target, None)
        if earlier is not None:
            earlier[0].result()  # the same file again: keep the writes in order
        self._write_slots.acquire()
        future = self._writer.submit(_atomic_write, target, data)
        future.add_done_callback(lambda _: self._write_slots.release())
        self._writes[target] = (future, sop)

    def _published(self, relative: str) -> bool:
        """Whether a dataset version names this file (then it never changes)."""
        if self._published_paths is None:
            paths: set[str] = set()
            for name in self.datasets():
                for version in self.versions(name):
                    manifest = self.manifest(name, version)
                    paths.update(f["path"] for study in manifest.studies for f in study["files"])
            self._published_paths = paths
        return relative in self._published_paths

    def _settle(self, target: Path) -> None:
        """Wait for a background write of `target`, before the file is removed."""
        earlier = self._writes.pop(target, None)
        if earlier is not None:
            earlier[0].exception()

    def _drain(self) -> list[BaseException]:
        """Wait for the background writes; drop the index rows of those that failed."""
        writes, self._writes = self._writes, {}
        failed = []
        for future, sop in writes.values():
            error = future.exception()
            if error is not None:
                failed.append(error)
                with self._lock:
                    self._pending.pop(sop, None)
        return failed

    # -- instances ---------------------------------------------------------------

    def store(self, item: Deidentified) -> StoredInstance:
        """Write one de-identified instance atomically; identical re-delivery writes nothing."""
        parts = (item.subject, item.study_uid, item.series_uid, item.sop_instance_uid)
        for part in parts:
            _check_part(part)
        data = _encode(item.dataset)
        digest = sha3_hex(data)
        relative = "/".join(parts) + ".dcm"
        target = self.root / relative
        previous = self._previous(item.sop_instance_uid, target)
        created = previous != (relative, digest)
        if created:
            if previous is not None:
                published = self._published(previous[0])
                log.info(
                    "instance_replaced sop=%s subject=%s reason=%s kept_for_versions=%s",
                    item.sop_instance_uid,
                    item.subject,
                    "moved" if previous[0] != relative else "content_changed",
                    published,
                )
                if published and previous[0] == relative:
                    # The published file stays as its manifests hash it; the new content
                    # is a revision beside it, which the next version names.
                    relative = relative[: -len(".dcm")] + f".{digest[:16]}.dcm"
                    target = self.root / relative
                elif not published and previous[0] != relative:
                    self._settle(self.root / previous[0])
                    (self.root / previous[0]).unlink(missing_ok=True)
            self._ensure_dirs(target.parent)
            self._write(target, data, item.sop_instance_uid)
        stored = StoredInstance(*parts, relative, digest, len(data), created)
        if created or not self._indexed(item.sop_instance_uid):
            self._queue_row(stored, item.dataset)
        return stored

    def _previous(self, sop: str, target: Path) -> tuple[str, str] | None:
        """(relative_path, sha3) of what the lake already holds for this SOP, if anything."""
        with self._lock:
            row = self._pending.get(sop)
        if row is not None:
            return row[4], row[5]
        found = (
            self._conn()
            .execute("SELECT relative_path, sha3_256, size FROM instances WHERE sop = ?", (sop,))
            .fetchone()
        )
        if found is not None:
            path = self.root / found[0]
            try:
                if path.stat().st_size == found[2]:
                    return found[0], found[1]
            except FileNotFoundError:
                pass
            return None
        # Not indexed (e.g. a crash before the index was flushed): hash what is on disk.
        if target.exists():
            return target.relative_to(self.root).as_posix(), sha3_hex(target.read_bytes())
        return None

    def _indexed(self, sop: str) -> bool:
        with self._lock:
            if sop in self._pending:
                return True
        found = self._conn().execute("SELECT 1 FROM instances WHERE sop = ?", (sop,)).fetchone()
        return found is not None

    def _queue_row(self, stored: StoredInstance, ds: pydicom.Dataset) -> None:
        summary = summarize(ds)
        row = (
            stored.subject,
            stored.study,
            stored.series,
            stored.sop,
            stored.relative_path,
            stored.sha3_256,
            stored.size,
            summary["modality"],
            summary["body_part"],
            summary["manufacturer"],
            summary["sex"],
            summary["age_years"],
            summary["study_date"],
        )
        with self._lock:
            self._pending[stored.sop] = row
            due = (
                len(self._pending) >= _FLUSH_ROWS
                or time.monotonic() - self._last_flush > _FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Write buffered index rows in one transaction (readers call it implicitly), once
        the files they describe are on disk."""
        failed = self._drain()
        self._commit_rows()
        if failed:
            log.error("lake_writes_failed count=%d", len(failed))
            raise failed[0]

    def _commit_rows(self) -> None:
        with self._lock:
            rows = list(self._pending.values())
            self._last_flush = time.monotonic()
            if not rows:
                return
            placeholders = ", ".join("?" for _ in _INDEX_COLUMNS)
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"INSERT OR REPLACE INTO instances ({', '.join(_INDEX_COLUMNS)}) "
                    f"VALUES ({placeholders})",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._pending.clear()
        log.debug("index_flushed rows=%d", len(rows))

    def index(self) -> LakeIndex:
        self.flush()
        return LakeIndex(self.index_path)

    def study_hash(self, subject: str, study: str) -> str:
        rows = self.index().study(subject, study)
        if not rows:
            raise KeyError(f"no study {study} of {subject} in the lake")
        return study_digest((r.relative_path, r.sha3_256) for r in rows)

    # -- quarantine ----------------------------------------------------------------

    def quarantine(self, data: bytes, reason: str, origin: str) -> Path:
        """Keep what may not be released, at the site only, with why (no PHI in reason/origin)."""
        digest = sha3_hex(data)
        target = self.quarantine_dir / f"{digest}.dcm"
        if not target.exists():
            _atomic_write(target, data)
        note_path = target.with_suffix(".json")
        if note_path.exists():  # the same bytes again: the first note stays
            return target
        note = {
            "sha3_256": digest,
            "size": len(data),
            "reason": reason,
            "origin": origin,
            "quarantined": _now(),
        }
        _atomic_write(note_path, json.dumps(note, indent=2).encode())
        log.warning("instance_quarantined sha3=%s origin=%r reason=%r", digest[:16], origin, reason)
        return target

    def quarantined(self) -> list[dict]:
        """The reasons on file, oldest first."""
        notes = [json.loads(p.read_text()) for p in self.quarantine_dir.glob("*.json")]
        return sorted(notes, key=lambda n: n["quarantined"])

    # -- datasets ------------------------------------------------------------------

    def publish_dataset(
        self,
        name: str,
        studies: Iterable[tuple[str, str]],
        *,
        title: str = "",
        description: str = "",
        site: str = "",
        replace: bool = False,
    ) -> Manifest:
        """A new version of `name` listing `studies` plus the previous version's.

        Nothing is copied: the manifest only names files already in the lake. When the new
        version would equal the latest one (same studies, same hashes, same texts) the latest
        is returned and nothing is written, so re-ingesting a folder creates nothing new.
        """
        _check_dataset_name(name)
        self.flush()
        folder = self.datasets_dir / name
        _make_dir(folder)
        with _locked(folder / ".lock"):
            manifest = self._publish_locked(name, set(studies), title, description, site, replace)
        self._published_paths = None
        return manifest

    def _publish_locked(
        self, name: str, keys: set, title: str, description: str, site: str, replace: bool
    ) -> Manifest:
        """publish_dataset's work, while no other process publishes this dataset."""
        folder = self.datasets_dir / name
        given = set(keys)  # this run's studies: each must be in the lake
        try:
            previous: Manifest | None = self.manifest(name)
        except KeyError:
            previous = None
        if previous is not None:
            title = title or previous.title
            description = description or previous.description
            site = site or previous.site
            if not replace:
                keys |= set(previous.study_keys())
        entries = []
        for subject, study in sorted(keys):
            entry = self._study_entry(subject, study)
            if entry is None and (subject, study) in given:
                raise ValueError(f"study {study} of {subject} is not in the lake")
            if entry is None:
                # Its instances came again under another subject (a corrected patient ID):
                # the study is now listed there; the older versions keep their files.
                log.info("study_moved_out dataset=%s subject=%s study=%s", name, subject, study)
                continue
            entries.append(entry)
        site = site or "site"
        if previous is not None and (
            previous.studies == entries
            and (previous.title, previous.description, previous.site) == (title, description, site)
        ):
            return previous
        version = (previous.version if previous else 0) + 1
        while True:
            body = {
                "dataset": name,
                "version": version,
                "created": _now(),
                "site": site,
                "title": title,
                "description": description,
                "studies": entries,
            }
            manifest = Manifest(**body, sha3_256=sha3_hex(canonical_json(body)))
            if _atomic_create(folder / f"v{version}.json", manifest.to_json().encode()):
                break
            version += 1  # another process published this version number meanwhile
        log.info(
            "dataset_published dataset=%s version=%d studies=%d manifest_sha3=%s",
            name,
            version,
            len(entries),
            manifest.sha3_256,
        )
        return manifest

    def _study_entry(self, subject: str, study: str) -> dict | None:
        rows = self.index().study(subject, study)
        if not rows:
            return None
        files = [{"path": r.relative_path, "sha3_256": r.sha3_256, "size": r.size} for r in rows]
        return {
            "subject": subject,
            "study": study,
            "sha3_256": study_digest((r.relative_path, r.sha3_256) for r in rows),
            "files": files,
        }

    def manifest(self, name: str, version: int | None = None) -> Manifest:
        """The latest (or the given) version of a dataset; KeyError when there is none."""
        _check_dataset_name(name)
        versions = self.versions(name)
        if not versions:
            raise KeyError(f"no dataset named {name!r}")
        if version is None:
            version = versions[-1]
        if version not in versions:
            raise KeyError(f"dataset {name!r} has no version {version}")
        raw = json.loads((self.datasets_dir / name / f"v{version}.json").read_text())
        stated = raw.pop("sha3_256")
        if sha3_hex(canonical_json(raw)) != stated:
            raise ValueError(f"manifest {name} v{version} does not match its hash")
        return Manifest(**raw, sha3_256=stated)

    def versions(self, name: str) -> list[int]:
        folder = self.datasets_dir / name
        if not folder.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def datasets(self) -> list[str]:
        return sorted(p.name for p in self.datasets_dir.iterdir() if self.versions(p.name))

    # -- helpers -------------------------------------------------------------------

    def _ensure_dirs(self, folder: Path) -> None:
        if folder in self._known_dirs:
            return
        # Each level gets 0700 itself: os.makedirs applies `mode` to the leaf only.
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            _make_dir(current)
        self._known_dirs.add(folder)


def summarize(ds: pydicom.Dataset) -> dict[str, Any]:
    """The describe-level facts of one de-identified instance (no identifying value)."""
    study_date = _text(ds, "StudyDate")
    return {
        "modality": _text(ds, "Modality"),
        "body_part": _text(ds, "BodyPartExamined"),
        "manufacturer": _text(ds, "Manufacturer"),
        "sex": _text(ds, "PatientSex"),
        "age_years": _age_years(_text(ds, "PatientAge"), _text(ds, "PatientBirthDate"), study_date),
        "study_date": study_date if re.fullmatch(r"[0-9]{8}", study_date) else "",
    }


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed value is simply not summarised
        return ""
    if value is None:
        return ""
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def _age_years(age: str, birth: str, study: str) -> int | None:
    match = re.fullmatch(r"([0-9]{1,3})([DWMY])", age.upper())
    if match:
        number, unit = int(match.group(1)), match.group(2)
        return {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]
    try:
        born = datetime.strptime(birth, "%Y%m%d").date()
        seen = datetime.strptime(study, "%Y%m%d").date()
    except ValueError:
        return None
    years = seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))
    return years if 0 <= years < 150 else None


def _encode(ds: pydicom.Dataset) -> bytes:
    import pydicom

    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return
    os.chmod(folder, DIR_MODE)  # whatever the umask


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created 0600) between processes of this host."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _atomic_write(target: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see all or nothing."""
    temp = _write_temp(target, data)
    try:
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a power cut only once the folder is synced."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_create(target: Path, data: bytes) -> bool:
    """Like _atomic_write but never overwrites: False when `target` already exists."""
    temp = _write_temp(target, data)
    try:
        os.link(temp, target)
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)
    _sync_folder(target.parent)
    return True


def _write_temp(target: Path, data: bytes) -> str:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def _check_part(part: str) -> None:
    if not _PATH_PART.match(part) or part in {".", ".."}:
        raise ValueError("refusing a lake path component that is not a pseudonym or UID")


def _check_dataset_name(name: str) -> None:
    if not _DATASET_NAME.match(name):
        raise ValueError(
            f"invalid dataset name {name!r}: use letters, digits, '.', '_' or '-' (max 100)"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


__all__ = [
    "IndexRow",
    "Lake",
    "LakeIndex",
    "Manifest",
    "StoredInstance",
    "canonical_json",
    "study_digest",
    "summarize",
]
