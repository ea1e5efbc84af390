"""The site's crosswalk: pseudonym <-> original identity, in a SQLite file that never leaves it.

Every distinct demographic variant seen for a patient ID is kept, so site staff can review
discrepancies hospitals must catch before data are pooled:

- `same_id_other_demographics`: an (issuer, patient ID) arrives with a name, birth date or sex
  that differs from one seen before (an empty value is "unknown", not a difference);
- `same_demographics_other_id`: a (name, birth date, sex) with non-empty name and birth date
  arrives under another (issuer, patient ID): possibly one person with two pseudonyms.

Recording is idempotent: the same identity adds no flag, and a discrepancy already flagged
(open or resolved) is not flagged again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from node_adapter.deid import OriginalIdentity

logger = logging.getLogger("node_adapter.crosswalk")

SAME_ID_OTHER_DEMOGRAPHICS = "same_id_other_demographics"
SAME_DEMOGRAPHICS_OTHER_ID = "same_demographics_other_id"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    sex         TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,  -- updated once per process run that sees the identity
    name_key    TEXT NOT NULL,  -- the name as compared (case and padding ignored)
    PRIMARY KEY (issuer, patient_id, name_key, birth_date, sex)
);
CREATE INDEX IF NOT EXISTS identities_subject ON identities (subject);
CREATE INDEX IF NOT EXISTS identities_demographics ON identities (name_key, birth_date, sex);
CREATE TABLE IF NOT EXISTS flags (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    other_subject TEXT,
    detail        TEXT NOT NULL,
    created       TEXT NOT NULL,
    resolved      INTEGER NOT NULL DEFAULT 0,
    note          TEXT NOT NULL DEFAULT '',
    fingerprint   TEXT NOT NULL UNIQUE
);
"""


@dataclass(frozen=True)
class Flag:
    id: int
    kind: str  # "same_id_other_demographics" | "same_demographics_other_id"
    subject: str
    other_subject: str | None
    detail: str
    created: str
    resolved: bool
    note: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _normal_name(name: str) -> str:
    """Names compare without case and trailing empty PN components ("DOE^JOHN^^")."""
    return name.strip().rstrip("^ ").casefold()


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Crosswalk:
    """SQLite file at the site, e.g. <lake>/.agora/crosswalk.sqlite3, mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file ourselves so it is never readable by others, even for a moment.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()  # the storage SCP records from several threads
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # Identities already recorded by this process: every instance of a study repeats its
        # patient's identity, and a transaction per instance would cost an fsync each.
        self._seen: set[tuple[str, ...]] = set()
        with self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, original: OriginalIdentity, subject: str) -> list[Flag]:
        """Remember this identity for `subject`; returns the flags it newly raises."""
        name = _normal_name(original.name)
        sex = original.sex.strip().upper()
        birth_date = original.birth_date.strip()
        key = (subject, original.issuer, original.patient_id, name, birth_date, sex)
        if key in self._seen:
            return []
        now = _now()
        with self._lock, self._db:
            new_ids = self._same_id_flags(subject, original, name, birth_date, sex, now)
            if name and birth_date:
                new_ids += self._same_demographics_flags(
                    subject, original, name, birth_date, sex, now
                )
            self._db.execute(
                "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (issuer, patient_id, name_key, birth_date, sex)"
                " DO UPDATE SET last_seen = excluded.last_seen",
                (
                    subject,
                    original.issuer,
                    original.patient_id,
                    original.name.strip(),
                    birth_date,
                    sex,
                    now,
                    now,
                    name,
                ),
            )
            flags = [self._flag(flag_id) for flag_id in new_ids]
        self._seen.add(key)
        for flag in flags:
            logger.info("crosswalk flag kind=%s subject=%s id=%d", flag.kind, subject, flag.id)
        return flags

    def _same_id_flags(
        self, subject: str, original: OriginalIdentity, name: str, birth: str, sex: str, now: str
    ) -> list[int]:
        rows = self._db.execute(
            "SELECT name_key, birth_date, sex FROM identities WHERE issuer = ? AND patient_id = ?",
            (original.issuer, original.patient_id),
        ).fetchall()
        new_ids = []
        mine = (name, birth, sex)
        for row in rows:
            theirs = (row["name_key"], row["birth_date"], row["sex"])
            fields = [
                label
                for label, a, b in zip(("name", "birth date", "sex"), mine, theirs, strict=True)
                if a and b and a != b
            ]
            if not fields:
                continue
            pair = sorted(["\x1e".join(mine), "\x1e".join(theirs)])
            flag_id = self._add_flag(
                kind=SAME_ID_OTHER_DEMOGRAPHICS,
                subject=subject,
                other_subject=None,
                detail="patient ID seen before with another " + ", ".join(fields),
                fingerprint=_fingerprint(SAME_ID_OTHER_DEMOGRAPHICS, subject, *pair),
                now=now,
            )
            if flag_id is not None:
                new_ids.append(flag_id)
        return new_ids

    def _same_demographics_flags(
        self, subject: str, original: OriginalIdentity, name: str, birth: str, sex: str, now: str
    ) -> list[int]:
        rows = self._db.execute(
            "SELECT DISTINCT subject FROM identities"
            " WHERE name_key = ? AND birth_date = ? AND sex = ?"
            " AND NOT (issuer = ? AND patient_id = ?) AND subject != ?",
            (name, birth, sex, original.issuer, original.patient_id, subject),
        ).fetchall()
        new_ids = []
        for row in rows:
            other = row["subject"]
            pair = sorted([subject, other])
            flag_id = self._add_flag(
                kind=SAME_DEMOGRAPHICS_OTHER_ID,
                subject=subject,
                other_subject=other,
                detail="same name, birth date and sex seen under another patient ID or issuer",
                fingerprint=_fingerprint(SAME_DEMOGRAPHICS_OTHER_ID, *pair),
                now=now,
            )
            if flag_id is not None:
                new_ids.append(flag_id)
        return new_ids

    def _add_flag(
        self,
        *,
        kind: str,
        subject: str,
        other_subject: str | None,
        detail: str,
        fingerprint: str,
        now: str,
    ) -> int | None:
        cursor = self._db.execute(
            "INSERT INTO flags (kind, subject, other_subject, detail, created, fingerprint)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
            (kind, subject, other_subject, detail, now, fingerprint),
        )
        return cursor.lastrowid if cursor.rowcount else None

    def _flag(self, flag_id: int) -> Flag:
        row = self._db.execute("SELECT * FROM flags WHERE id = ?", (flag_id,)).fetchone()
        if row is None:
            raise KeyError(flag_id)
        return Flag(
            id=row["id"],
            kind=row["kind"],
            subject=row["subject"],
            other_subject=row["other_subject"],
            detail=row["detail"],
            created=row["created"],
            resolved=bool(row["resolved"]),
            note=row["note"],
        )

    def flags(self, *, open_only: bool = True) -> list[Flag]:
        query = "SELECT id FROM flags" + (" WHERE resolved = 0" if open_only else "")
        with self._lock:
            ids = [row["id"] for row in self._db.execute(query + " ORDER BY id")]
            return [self._flag(flag_id) for flag_id in ids]

    def resolve(self, flag_id: int, *, note: str) -> Flag:
        """Close a flag with the reviewer's note; KeyError when there is no such flag."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "UPDATE flags SET resolved = 1, note = ? WHERE id = ?", (note, flag_id)
            )
            if not cursor.rowcount:
                raise KeyError(flag_id)
            flag = self._flag(flag_id)
        logger.info("crosswalk flag resolved id=%d", flag_id)
        return flag

    def identity(self, subject: str) -> OriginalIdentity | None:
        """The first identity recorded for `subject` (for site staff only)."""
        with self._lock:
            row = self._db.execute(
                "SELECT issuer, patient_id, name, birth_date, sex FROM identities"
                " WHERE subject = ? ORDER BY first_seen, rowid LIMIT 1",
                (subject,),
            ).fetchone()
        if row is None:
            return None
        return OriginalIdentity(
            patient_id=row["patient_id"],
            issuer=row["issuer"],
            name=row["name"],
            birth_date=row["birth_date"],
            sex=row["sex"],
        )
