"""The ingestion pipeline: parse, de-identify, store in the lake, record in the crosswalk.

Whatever fails for one instance (not DICOM, corrupt, refused by de-identification) is
quarantined with its reason and the run goes on; nothing identifying is ever logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Protocol

from node_adapter.lake import Lake, Manifest, StoredInstance
from node_adapter.sources import Source

if TYPE_CHECKING:
    import pydicom

    from node_adapter.crosswalk import Crosswalk
    from node_adapter.deid import DeidConfig

log = logging.getLogger("node_adapter.ingest")

# A DICOMDIR indexes a medium; it is not an instance and names every patient on it.
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class ProgressLike(Protocol):
    def update(self, n: int = 1) -> None: ...


@dataclass
class IngestReport:
    received: int = 0
    stored: int = 0
    unchanged: int = 0
    quarantined: int = 0
    flags: int = 0
    studies: set[tuple[str, str]] = field(default_factory=set)
    reasons: Counter = field(default_factory=Counter)
    manifest: Manifest | None = None  # the dataset version published at the end, if any

    def summary(self) -> str:
        """One PHI-free key=value line, for logs and the command line."""
        parts = [
            f"received={self.received}",
            f"stored={self.stored}",
            f"unchanged={self.unchanged}",
            f"quarantined={self.quarantined}",
            f"flags={self.flags}",
            f"studies={len(self.studies)}",
        ]
        if self.manifest is not None:
            parts += [f"dataset={self.manifest.dataset}", f"version={self.manifest.version}"]
        return " ".join(parts)


def crosswalk_for(lake: Lake) -> Crosswalk:
    from node_adapter.crosswalk import Crosswalk

    return Crosswalk(lake.root / ".agora" / "crosswalk.sqlite3")


def ingest(
    source: Source,
    lake: Lake,
    config: DeidConfig,
    *,
    dataset: str | None,
    progress: ProgressLike | None = None,
    title: str = "",
    description: str = "",
) -> IngestReport:
    """Ingest every instance of `source`; publish a new version of `dataset` when given."""
    report = IngestReport()
    crosswalk = crosswalk_for(lake)
    try:
        with lake.write_behind():
            for origin, data in source.instances():
                ingest_one(data, lake, config, crosswalk, origin=origin, report=report)
                if progress is not None:
                    progress.update(1)
    finally:
        crosswalk.close()
    if dataset and report.studies:
        report.manifest = lake.publish_dataset(
            dataset, report.studies, title=title, description=description, site=config.site_id
        )
    log.info("ingest_finished %s", report.summary())
    return report


def ingest_one(
    data: bytes,
    lake: Lake,
    config: DeidConfig,
    crosswalk: Crosswalk,
    *,
    origin: str = "instance",
    report: IngestReport | None = None,
) -> StoredInstance | None:
    """De-identify and store one instance; None when it was quarantined instead."""
    from node_adapter.deid import Quarantined, deidentify

    report = report if report is not None else IngestReport()
    report.received += 1
    ds, reason = _read(data)
    if ds is not None:
        try:
            item = deidentify(ds, config)
        except Quarantined as exc:
            reason = exc.reason
        except Exception as exc:  # noqa: BLE001 - one bad instance must not stop the run
            # Only the type: messages of parsing errors can quote element values.
            reason = f"de-identification failed: {type(exc).__name__}"
    if reason is not None:
        lake.quarantine(data, reason, origin)
        report.quarantined += 1
        report.reasons[reason] += 1
        return None
    stored = lake.store(item)
    new_flags = crosswalk.record(item.original, item.subject)
    report.flags += len(new_flags)
    for flag in new_flags:
        log.warning("crosswalk_flag id=%s kind=%s subject=%s", flag.id, flag.kind, flag.subject)
    report.studies.add((stored.subject, stored.study))
    if stored.created:
        report.stored += 1
    else:
        report.unchanged += 1
    return stored


def _read(data: bytes) -> tuple[pydicom.Dataset | None, str | None]:
    """The parsed instance, or why `data` is not one we can take (no PHI in the reason)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(BytesIO(data), force=False)
    except InvalidDicomError:
        return None, "not a DICOM file (no DICM preamble)"
    except Exception as exc:  # noqa: BLE001 - truncated or garbled files raise anything
        return None, f"corrupt DICOM: {type(exc).__name__}"
    sop_class = str(getattr(ds.get("file_meta", None), "MediaStorageSOPClassUID", ""))
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return None, "media directory (DICOMDIR), not an instance"
    if "SOPInstanceUID" not in ds:
        return None, "corrupt DICOM: no SOP Instance UID"
    return ds, None
