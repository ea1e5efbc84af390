"""A DICOM Storage SCP (pynetdicom): modalities and PACS C-STORE straight to the node.

Each received instance is written back to bytes exactly as it arrived (its file meta and
the encoded dataset, nothing decoded and re-encoded) and goes through `ingest_one`, the
same path as a folder or Orthanc: de-identified, stored in the lake, recorded in the
crosswalk. C-ECHO (verification) is answered too.

Statuses answered to the sender:
- 0x0000 Success: stored, or an identical re-delivery, or **quarantined**. A quarantined
  instance (burned-in annotations, an unreadable file) was received and is kept safely at
  the site for review; sending it again would change nothing, and a failure status would
  make the modality retry or alarm for an image that is exactly where it should be. The
  quarantine is logged (with its reason, no PHI) and counted at the association's end.
- 0xA700 Refused, out of resources: the lake could not be written (disk full, permissions);
  the sender keeps the image and may retry later.
- 0x0110 Processing failure: anything else unexpected (logged with its traceback class).

With `dataset`, the studies an association brought are added to that dataset when the
association ends (released, aborted or its connection closed): at most one new manifest
version per association, not one per instance, and none when nothing changed (the lake
returns the latest version when the new one would be identical).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from io import BytesIO

from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from node_adapter.deid import DeidConfig
from node_adapter.ingest import crosswalk_for, ingest_one
from node_adapter.lake import Lake

log = logging.getLogger("node_adapter.scp")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
PROCESSING_FAILURE = 0x0110

# pynetdicom's standard handlers log each request's original SOP Instance UID (at DEBUG):
# the node's logs must never hold original identifiers, so they are turned off.
_config.LOG_HANDLER_LEVEL = "none"


class _Receiver:
    """The C-STORE and association-end handlers of one server. Associations run in their
    own threads; ingestion is serialised (de-identification holds the GIL anyway, and the
    lake's and crosswalk's SQLite files take one writer at a time)."""

    def __init__(self, lake: Lake, config: DeidConfig, dataset: str | None) -> None:
        self.lake = lake
        self.config = config
        self.dataset = dataset
        self.lock = threading.Lock()
        self.crosswalk = crosswalk_for(lake)
        self.received: dict[int, dict] = {}  # per association: counts and new studies
        self.number = 0  # instances received, for PHI-free quarantine origins

    def tally(self, event: evt.Event) -> dict:
        return self.received.setdefault(
            id(event.assoc), {"counts": Counter(), "studies": set(), "ae": _calling_ae(event)}
        )

    def on_store(self, event: evt.Event) -> int:
        tally = self.tally(event)
        try:
            data = encoded_instance(event)
            with self.lock:
                self.number += 1
                origin = f"scp {tally['ae'] or '-'} #{self.number}"
                stored = ingest_one(data, self.lake, self.config, self.crosswalk, origin=origin)
        except OSError as exc:
            tally["counts"]["failed"] += 1
            log.error("store refused reason=lake-not-writable error=%s", type(exc).__name__)
            return OUT_OF_RESOURCES
        except Exception as exc:  # the sender must get an answer whatever went wrong
            tally["counts"]["failed"] += 1
            # The type only: messages about a dataset can quote its values.
            log.error("store failed error=%s", type(exc).__name__)
            return PROCESSING_FAILURE
        if stored is None:
            tally["counts"]["quarantined"] += 1
            log.warning("store quarantined calling_ae=%s", tally["ae"])
        else:
            tally["counts"]["stored" if stored.created else "unchanged"] += 1
            tally["studies"].add((stored.subject, stored.study))
            log.debug("stored subject=%s study=%s sop=%s", stored.subject, stored.study, stored.sop)
        return SUCCESS

    def on_end(self, event: evt.Event) -> None:
        tally = self.received.pop(id(event.assoc), None)
        if tally is None:
            return
        counts = tally["counts"]
        log.info(
            "association ended calling_ae=%s stored=%d unchanged=%d quarantined=%d failed=%d",
            tally["ae"],
            counts["stored"],
            counts["unchanged"],
            counts["quarantined"],
            counts["failed"],
        )
        with self.lock:
            self.lake.flush()  # the index rows of this association, for describe and publish
        if self.dataset and tally["studies"]:
            try:
                with self.lock:
                    manifest = self.lake.publish_dataset(
                        self.dataset, sorted(tally["studies"]), site=self.config.site_id
                    )
            except Exception as exc:
                log.error("publish failed dataset=%s error=%s", self.dataset, type(exc).__name__)
                return
            log.info(
                "published dataset=%s version=%d studies=%d from_association=%d",
                manifest.dataset,
                manifest.version,
                len(manifest.studies),
                len(tally["studies"]),
            )


def encoded_instance(event: evt.Event) -> bytes:
    """The received instance as a DICOM file (Part 10): preamble, file meta, and the
    dataset's bytes as they came over the network."""
    with BytesIO() as buffer:
        buffer.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(buffer, event.file_meta, enforce_standard=True)
        buffer.write(event.request.DataSet.getvalue())
        return buffer.getvalue()


def _calling_ae(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def storage_ae(ae_title: str) -> AE:
    """An AE accepting every storage SOP class in any transfer syntax, and verification."""
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    # A CT series can be thousands of instances on one association: no idle cut-off
    # shorter than a slow modality's pauses.
    ae.network_timeout = 300
    return ae


def serve_storage_scp(
    *,
    lake: Lake,
    config: DeidConfig,
    ae_title: str,
    host: str,
    port: int,
    dataset: str | None,
    block: bool = True,
) -> ThreadedAssociationServer | None:
    """Listen for C-STORE and C-ECHO on host:port. With block=False, returns pynetdicom's
    ThreadedAssociationServer (`.shutdown()` stops it; `.server_address` is the bound
    address, useful with port 0); with block=True, serves until interrupted."""
    receiver = _Receiver(lake, config, dataset)
    handlers = [
        (evt.EVT_C_STORE, receiver.on_store),
        (evt.EVT_RELEASED, receiver.on_end),
        (evt.EVT_ABORTED, receiver.on_end),
        (evt.EVT_CONN_CLOSE, receiver.on_end),  # a dropped connection ends it too
    ]
    ae = storage_ae(ae_title)
    log.info(
        "listening ae_title=%s host=%s port=%d dataset=%s", ae_title, host, port, dataset or "-"
    )
    return ae.start_server((host, port), block=block, evt_handlers=handlers)
