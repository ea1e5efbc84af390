"""De-identification per the DICOM PS3.15 Basic Application Level Confidentiality Profile.

We follow the attribute table of edition 2026c as shipped by dicom-anonymizer
(`dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c`) but apply the actions
ourselves: dicom-anonymizer draws random UIDs, while a site needs the same study to keep the
same UIDs when it is delivered again weeks later, so UIDs and pseudonyms are keyed hashes
(HMAC-SHA256) of the original values with the site secret.

How the profile's combined actions are resolved (we do not look up, per SOP class, whether an
attribute is Type 1, 2 or 3 in its IOD, so we pick the alternative that is valid whatever the
type and releases nothing):

- Z/D  -> D: a dummy (the pseudonym for Patient ID) is valid for Type 1 and 2 and says nothing.
- X/Z  -> Z: an empty value is valid for Type 2 and 3; the profile never makes X/Z Type 1.
- X/D  -> D for plain values (a dummy is valid for Type 1 and 3); X for sequences, because a
          "dummy" item of an unknown macro cannot be built safely (Operator Identification,
          Waveform Annotation).
- X/Z/D -> D for plain values, Z (an empty sequence) for sequences, for the same reasons.
- X/Z/U* -> U*: the sequence is kept and its items are de-identified recursively, so the UIDs
          inside (Referenced SOP Instance UID is itself U) are remapped consistently and
          references between de-identified instances still resolve.
- D on a sequence (Content Sequence, Person Identification Code Sequence, ...): every value
  inside it, at any depth, is replaced by a dummy of its VR (UIDs remapped), private
  elements dropped; the structure survives, no value does.

What the table empties and we therefore do not release: Patient's Sex and Birth Date (Z),
Patient's Age, Size and Weight (X). Aggregate descriptions then lack sex and age unless the
site turns on `retain_patient_characteristics` (the profile's Retain Patient Characteristics
Option, DCM 113108). Modality, Body Part Examined, Manufacturer and Manufacturer's Model Name
are not in the table, so they are kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

import pydicom
from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as _profile
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    convert_raw_data_element,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

logger = logging.getLogger("node_adapter.deid")

PROFILE_EDITION = "2026c"  # dicom-anonymizer's dicomfields_2026c table

# The table's category names in dicom-anonymizer -> the profile's action codes.
_CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}

# Internal actions after resolving the combined ones (see the module docstring):
# (action for a plain value, action for a sequence).
_KEEP, _REMOVE, _EMPTY, _DUMMY, _UID, _RECURSE = "K", "X", "Z", "D", "U", "R"
_RESOLVED = {
    "X": (_REMOVE, _REMOVE),
    "Z": (_EMPTY, _EMPTY),
    "D": (_DUMMY, _DUMMY),
    "U": (_UID, _RECURSE),
    "Z/D": (_DUMMY, _EMPTY),
    "X/Z": (_EMPTY, _EMPTY),
    "X/D": (_DUMMY, _REMOVE),
    "X/Z/D": (_DUMMY, _EMPTY),
    "X/Z/U*": (_UID, _RECURSE),
}

# Retain Device Identity Option: the attributes the profile marks K in that column.
_DEVICE_IDENTITY_TAGS = frozenset(
    {
        0x00081010,  # Station Name
        0x00080055,  # Station AE Title
        0x00181000,  # Device Serial Number
        0x00181002,  # Device UID
        0x00181004,  # Plate ID
        0x00181005,  # Generator ID
        0x00181007,  # Cassette ID
        0x00181008,  # Gantry ID
        0x00181009,  # Unique Device Identifier
        0x0018100A,  # UDI Sequence
        0x0018100B,  # Manufacturer's Device Class UID
        0x00181010,  # Secondary Capture Device ID
        0x00181011,  # Hardcopy Creation Device ID
        0x00185011,  # Transducer Identification Sequence
        0x0018700A,  # Detector ID
        0x00189367,  # X-Ray Source ID
        0x00189371,  # X-Ray Detector ID
        0x00189373,  # X-Ray Detector Label
        0x00203401,  # Modifying Device ID
        0x00400001,  # Scheduled Station AE Title
        0x00400010,  # Scheduled Station Name
        0x00404025,  # Scheduled Station Name Code Sequence
        0x00404027,  # Scheduled Station Geographic Location Code Sequence
        0x00400241,  # Performed Station AE Title
        0x00400242,  # Performed Station Name
        0x00404028,  # Performed Station Name Code Sequence
        0x00404030,  # Performed Station Geographic Location Code Sequence
        0x00500020,  # Device Description
        0x00500021,  # Long Device Description
        0x30080105,  # Source Serial Number
        0x300A00B2,  # Treatment Machine Name
        0x300A0216,  # Source Manufacturer
        0x3010001B,  # Device Alternate Identifier
        0x3010002D,  # Device Label
        0x30100043,  # Manufacturer's Device Identifier
    }
)

# Retain Patient Characteristics Option: the attributes marked K in that column (those marked
# C, free text to be cleaned, stay removed: we do not clean free text).
_PATIENT_CHARACTERISTICS_TAGS = frozenset(
    {
        0x00100040,  # Patient's Sex
        0x00101010,  # Patient's Age
        0x00101020,  # Patient's Size
        0x00101030,  # Patient's Weight
        0x00102160,  # Ethnic Group
        0x001021A0,  # Smoking Status
        0x001021C0,  # Pregnancy Status
        0x00102203,  # Patient's Sex Neutered
    }
)

# Never shifted nor kept by the longitudinal option: a shifted birth date with shifted study
# dates still gives the exact age, and the option's column does not list them.
_BIRTH_TAGS = frozenset({0x00100030, 0x00100032})

_PATIENT_NAME, _PATIENT_ID = 0x00100010, 0x00100020
_STUDY_UID, _SERIES_UID, _SOP_UID, _SOP_CLASS = 0x0020000D, 0x0020000E, 0x00080018, 0x00080016

# Modalities whose pixels commonly carry burned-in text (patient name, dates, hospital):
# US (the scanner's screen), ES (endoscopy video overlays), XC and GM (photographs with
# labels), SM (slide label images), OT and SC (screenshots, scanned paper), DOC (scanned or
# encapsulated documents). They are released only when the source states
# BurnedInAnnotation=NO; we do not clean pixel data, so we do not claim DCM 113101.
BURNED_IN_MODALITIES = frozenset({"US", "ES", "XC", "GM", "SM", "OT", "SC", "DOC"})
# SOP classes made of screenshots, photographs or documents, whatever their Modality says:
# Secondary Capture (…1.1.7 and its multi-frame …1.1.7.n), Visible Light images (…1.1.77.1.n:
# endoscopy, microscopy, photography) and Encapsulated Documents (…1.1.104.n).
_BURNED_IN_SOP_CLASS_ROOTS = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.77.1",
    "1.2.840.10008.5.1.4.1.1.104",
)


def _burned_in_sop_class(sop_class: str) -> bool:
    return any(
        sop_class == root or sop_class.startswith(root + ".") for root in _BURNED_IN_SOP_CLASS_ROOTS
    )


_DUMMY_TEXT = "ANONYMOUS"
_DUMMIES: dict[str, object] = {
    "AE": _DUMMY_TEXT,
    "AS": "000Y",
    "CS": _DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000.000000",
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "TM": "000000.00",
    "UC": _DUMMY_TEXT,
    "UR": "http://anonymous.invalid",
    "UT": _DUMMY_TEXT,
    "AT": 0,
    "FD": 0.0,
    "FL": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_BINARY_DUMMY = b"\x00" * 8  # a multiple of every binary VR's unit size

# PS3.16 CID 7050, De-identification Method.
_CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
_CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
_CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")
_CODE_DEVICE_IDENTITY = ("113109", "Retain Device Identity Option")
_CODE_SAFE_PRIVATE = ("113111", "Retain Safe Private Option")


@dataclass(frozen=True)
class DeidConfig:
    site_secret: bytes  # HMAC key, never logged
    site_id: str = "site"  # names the site in UIDs/DCAT, not secret
    retain_longitudinal_dates: bool = False  # shift dates per patient instead of removing
    retain_device_identity: bool = False
    # (group, private creator, element in the creator's block) kept: Retain Safe Private
    safe_private_tags: frozenset[tuple[int, str, int]] = frozenset()
    # Not in the first contract; defaults to the strict basic profile.
    retain_patient_characteristics: bool = False

    def __repr__(self) -> str:  # the secret must not reach a log through a repr
        return (
            f"DeidConfig(site_id={self.site_id!r}, "
            f"retain_longitudinal_dates={self.retain_longitudinal_dates}, "
            f"retain_device_identity={self.retain_device_identity}, "
            f"retain_patient_characteristics={self.retain_patient_characteristics}, "
            f"safe_private_tags={len(self.safe_private_tags)})"
        )


@dataclass(frozen=True)
class OriginalIdentity:  # what the crosswalk keeps at the site; never leaves it
    patient_id: str
    issuer: str  # IssuerOfPatientID ("" when absent)
    name: str
    birth_date: str
    sex: str


class Quarantined(Exception):
    """The instance must not be released; `reason` is plain words without PHI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Deidentified:
    dataset: pydicom.Dataset  # de-identified, ready to write
    subject: str  # pseudonym, e.g. "sub-3f9a1c2b7d4e5f60"
    study_uid: str  # remapped
    series_uid: str  # remapped
    sop_instance_uid: str  # remapped
    original: OriginalIdentity


# --- keyed hashes -------------------------------------------------------------------------


def pseudonym(secret: bytes, issuer: str, patient_id: str) -> str:
    """The subject label: keyed on the issuer too, so equal IDs of two clinics differ."""
    message = f"{issuer}\x1f{patient_id}".encode()
    return "sub-" + hmac.new(secret, message, hashlib.sha256).hexdigest()[:16]


@functools.lru_cache(maxsize=1 << 16)
def remap_uid(secret: bytes, uid: str) -> str:
    """A deterministic "2.25.<128-bit decimal>" UID for `uid` at this site."""
    digest = hmac.new(secret, uid.encode(), hashlib.sha256).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def date_shift_days(secret: bytes, issuer: str, patient_id: str) -> int:
    """A per-patient shift in -365..-1 days (never 0, so no date is released unchanged)."""
    message = f"date-shift\x1f{issuer}\x1f{patient_id}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return -(int.from_bytes(digest[:8], "big") % 365) - 1


# --- the profile's table ------------------------------------------------------------------


def _mask_key(tag: tuple[int, ...]) -> str:
    """'(50xx,xxxx)'-style name of a repeating-group entry (value, element, masks)."""
    group, element, group_mask, element_mask = tag

    def hex_masked(value: int, mask: int) -> str:
        return "".join(
            f"{(value >> shift) & 0xF:X}" if (mask >> shift) & 0xF else "x"
            for shift in (12, 8, 4, 0)
        )

    return f"({hex_masked(group, group_mask)},{hex_masked(element, element_mask)})"


def profile_table() -> dict[tuple[int, int] | str, str]:
    """Every attribute of the edition's table -> its action code ("X", "Z/D", ...).

    Plain attributes are keyed by (group, element), repeating groups by their
    "(60xx,3000)"-style name. The caller gets its own copy.
    """
    return dict(_profile_table())


@functools.cache
def _profile_table() -> dict[tuple[int, int] | str, str]:
    table: dict[tuple[int, int] | str, str] = {}
    for category, action in _CATEGORIES.items():
        for tag in getattr(_profile, category):
            key = (tag[0], tag[1]) if len(tag) == 2 else _mask_key(tag)
            table[key] = action
    return table


@functools.cache
def _masked_entries() -> tuple[tuple[int, int, int, int, str], ...]:
    return tuple(
        (tag[0], tag[1], tag[2], tag[3], action)
        for category, action in _CATEGORIES.items()
        for tag in getattr(_profile, category)
        if len(tag) == 4
    )


@functools.cache
def _effective_table(retain_device: bool, retain_patient: bool) -> dict[int, tuple[str, str]]:
    """Tag int -> (plain action, sequence action), with the options' K columns applied."""
    table = {
        (key[0] << 16) | key[1]: _RESOLVED[action]
        for key, action in _profile_table().items()
        if isinstance(key, tuple)
    }
    kept = set()
    if retain_device:
        kept |= _DEVICE_IDENTITY_TAGS
    if retain_patient:
        kept |= _PATIENT_CHARACTERISTICS_TAGS
    for tag in kept:
        # A kept sequence still has its items de-identified.
        table[tag] = (_KEEP, _RECURSE)
    return table


def _masked_action(tag: int) -> tuple[str, str] | None:
    group, element = tag >> 16, tag & 0xFFFF
    for value_group, value_element, group_mask, element_mask, action in _masked_entries():
        if (
            group & group_mask == value_group & group_mask
            and element & element_mask == value_element & element_mask
        ):
            return _RESOLVED[action]
    return None


@functools.lru_cache(maxsize=4096)
def _unjudged(tag: int, group: int) -> bool:
    """Public elements the profile's table cannot have judged, removed: those the DICOM
    dictionary does not know (retired or from a newer edition), and an overlay's free-text
    description (60xx,0022)."""
    if group == 0x0002:
        return False
    if 0x6000 <= group <= 0x60FF and tag & 0xFFFF == 0x0022:
        return True
    try:
        dictionary_VR(tag)
    except KeyError:
        return not (0x5000 <= group <= 0x60FF)  # repeating groups are keyed by their mask
    return False


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


# --- the de-identification pass -----------------------------------------------------------


@dataclass(frozen=True)
class _Pass:
    secret: bytes
    table: dict[int, tuple[str, str]]
    shift_days: int | None
    safe_private: frozenset[tuple[int, str, int]]


def deidentify(ds: pydicom.Dataset, config: DeidConfig) -> Deidentified:
    """A de-identified copy of `ds` (which is left unchanged); raises Quarantined."""
    original = _original_identity(ds)
    if not original.patient_id.strip():
        # Every patient without an ID would share one pseudonym: merged in the lake.
        raise Quarantined("no Patient ID: the instance cannot be given a consistent pseudonym")
    _refuse_burned_in(ds)
    subject = pseudonym(config.site_secret, original.issuer, original.patient_id)
    run = _Pass(
        secret=config.site_secret,
        table=_effective_table(
            config.retain_device_identity, config.retain_patient_characteristics
        ),
        shift_days=(
            date_shift_days(config.site_secret, original.issuer, original.patient_id)
            if config.retain_longitudinal_dates
            else None
        ),
        safe_private=frozenset(config.safe_private_tags),
    )
    out = _clean(ds, run)
    out.PatientName = subject
    out.PatientID = subject
    _mark_deidentified(out, config)
    uids = [out.get(tag).value if tag in out else "" for tag in (_STUDY_UID, _SERIES_UID, _SOP_UID)]
    if not all(uids):
        raise Quarantined("missing Study, Series or SOP Instance UID")
    out.file_meta = _file_meta(ds, out)
    logger.debug("deidentified subject=%s sop=%s", subject, uids[2])
    return Deidentified(
        dataset=out,
        subject=subject,
        study_uid=uids[0],
        series_uid=uids[1],
        sop_instance_uid=uids[2],
        original=original,
    )


def _element(ds: Dataset, tag: int) -> DataElement | None:
    """The element at `tag`, converted from raw without touching `ds`."""
    item = ds._dict.get(BaseTag(tag))
    if isinstance(item, RawDataElement):
        if item.value is None:  # a deferred read: let pydicom load it
            return ds[tag]
        return convert_raw_data_element(item, encoding=ds._character_set, ds=ds)
    return item


_ASCII_VRS = frozenset({"CS", "DA", "UI", "AS", "DT", "TM"})


def _text(ds: Dataset, tag: int) -> str:
    item = ds._dict.get(BaseTag(tag))
    if item is None:
        return ""
    if isinstance(item, RawDataElement) and item.value is not None:
        vr = item.VR or _dictionary_vr(tag)
        if vr in _ASCII_VRS:  # no character set applies: decode without pydicom's machinery
            return item.value.decode("ascii", "replace").strip(" \x00")
    elem = _element(ds, tag)
    if elem is None or elem.value is None:
        return ""
    value = elem.value
    if isinstance(value, MultiValue):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def _original_identity(ds: Dataset) -> OriginalIdentity:
    return OriginalIdentity(
        patient_id=_text(ds, _PATIENT_ID),
        issuer=_text(ds, 0x00100021),
        name=_text(ds, _PATIENT_NAME),
        birth_date=_text(ds, 0x00100030),
        sex=_text(ds, 0x00100040),
    )


def _refuse_burned_in(ds: Dataset) -> None:
    burned_in = _text(ds, 0x00280301).upper()
    if burned_in == "YES":
        raise Quarantined("burned-in annotation: BurnedInAnnotation=YES")
    if _text(ds, 0x00280302).upper() == "YES":
        raise Quarantined("recognizable visual features: RecognizableVisualFeatures=YES")
    if burned_in == "NO":
        return
    modality = _text(ds, 0x00080060).upper()
    if modality in BURNED_IN_MODALITIES:
        raise Quarantined(
            f"burned-in annotation: modality {modality} without BurnedInAnnotation=NO"
        )
    if _burned_in_sop_class(_text(ds, _SOP_CLASS)):
        raise Quarantined(
            "burned-in annotation: secondary capture, visible light or document SOP class"
            " without BurnedInAnnotation=NO"
        )


def _clean(src: Dataset, run: _Pass) -> Dataset:
    """A new dataset holding `src`'s elements after their profile actions."""
    out = Dataset()
    implicit, little_endian = src.original_encoding
    if implicit is not None:
        # Same encoding as the source: pydicom then writes the untouched raw elements as
        # they are instead of decoding and re-encoding every one (3x faster writes).
        out.set_original_encoding(implicit, little_endian, src.original_character_set)
    target = out._dict  # filled as Dataset.__setitem__ would, without its per-call checks
    safe = _safe_private(src, run.safe_private) if run.safe_private else frozenset()
    for tag, item in sorted(src._dict.items()):
        if isinstance(item, RawDataElement) and item.value is None:
            item = src[tag]  # deferred read
        group = tag >> 16
        if group & 1:
            if tag in safe:
                target[tag] = _copy(item)
            continue
        actions = run.table.get(tag)
        if actions is None and 0x5000 <= group <= 0x60FF:
            actions = _masked_action(tag)
        vr = item.VR
        if vr is None or vr == "UN":
            vr = _dictionary_vr(tag)
        if actions is None and _unjudged(tag, group):
            continue  # removed: the profile cannot have judged it
        if actions is None:
            if vr != "SQ" and (run.shift_days is None or vr not in ("DA", "DT")):
                target[tag] = _copy(item)
                continue
            actions = (_KEEP, _RECURSE)
        result = _apply(src, item, vr, actions, run)
        if result is not None:
            target[tag] = result
    return out


def _safe_private(src: Dataset, safe: frozenset[tuple[int, str, int]]) -> frozenset[int]:
    """The private tags of this dataset level to keep: a listed element under its listed
    creator (read from this level's private creator elements), and those creators. A
    private sequence is never kept: its items could hold anything."""
    creators: dict[int, str] = {}
    for tag in src._dict:
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[tag] = str(src[tag].value or "").strip()
    keep: set[int] = set()
    for tag in src._dict:
        group, element = tag >> 16, tag & 0xFFFF
        if not group & 1 or element < 0x1000:
            continue
        creator_tag = (group << 16) | (element >> 8)
        creator = creators.get(creator_tag, "")
        if creator and (group, creator, element & 0xFF) in safe and src[tag].VR != "SQ":
            keep.update((tag, creator_tag))
    return frozenset(keep)


def _shifts(tag: int, vr: str, run: _Pass) -> bool:
    """Whether the longitudinal option keeps this temporal value (shifted or as is)."""
    return run.shift_days is not None and vr in ("DA", "DT", "TM") and tag not in _BIRTH_TAGS


def _convert(src: Dataset, item: DataElement | RawDataElement) -> DataElement:
    if isinstance(item, RawDataElement):
        return convert_raw_data_element(item, encoding=src._character_set, ds=src)
    return item


def _copy(item: DataElement | RawDataElement) -> DataElement | RawDataElement:
    # A raw element is an immutable tuple of bytes: sharing it cannot change the input.
    return item if isinstance(item, RawDataElement) else copy.deepcopy(item)


def _new(tag: int, vr: str, value: object) -> DataElement:
    # Our values are valid for their VR by construction: skip pydicom's validation.
    return DataElement(tag, _concrete_vr(vr), value, validation_mode=pydicom.config.IGNORE)


def _concrete_vr(vr: str) -> str:
    # An implicit-VR source leaves ambiguous dictionary VRs ("US or SS"); a VR we write must
    # be one VR. The table's ambiguous attributes are never pixel data, so the first will do.
    return vr if len(vr) == 2 else vr[:2]


def _apply(
    src: Dataset, item: DataElement | RawDataElement, vr: str, actions: tuple[str, str], run: _Pass
) -> DataElement | RawDataElement | None:
    """The element after its action, or None when it is removed.

    Only values we must read (sequences, UIDs, dates to shift) are decoded: the rest is
    decided on the tag and VR alone.
    """
    tag = item.tag
    if vr == "SQ":
        return _apply_sequence(_convert(src, item), actions[1], run)
    if _shifts(tag, vr, run):
        return _shifted(_convert(src, item), run.shift_days) if vr != "TM" else _copy(item)
    action = actions[0]
    if action == _KEEP:
        return _copy(item)
    if action == _REMOVE:
        return None
    if action == _EMPTY:
        return _new(tag, vr, empty_value_for_VR(vr))
    if action == _UID or vr == "UI":
        return _remapped(_convert(src, item), run.secret)
    return _dummy(tag, vr)


def _apply_sequence(elem: DataElement, action: str, run: _Pass) -> DataElement | None:
    if action == _REMOVE:
        return None
    if action == _EMPTY:
        return DataElement(elem.tag, "SQ", Sequence())
    if action == _DUMMY:
        items = [_dummy_item(item, run) for item in elem.value or ()]
    else:  # kept (_KEEP, _RECURSE): the items get the profile too
        items = [_clean(item, run) for item in elem.value or ()]
    return DataElement(elem.tag, "SQ", Sequence(items))


def _dummy_item(src: Dataset, run: _Pass) -> Dataset:
    """Every value replaced by a dummy of its VR, at any depth; private elements dropped."""
    out = Dataset()
    for tag in sorted(src._dict):
        if tag.is_private:
            continue
        elem = _element(src, tag)
        if elem.VR == "SQ":
            items = [_dummy_item(item, run) for item in elem.value or ()]
            out._dict[tag] = DataElement(tag, "SQ", Sequence(items))
        elif elem.VR == "UI":
            out._dict[tag] = _remapped(elem, run.secret)
        else:
            out._dict[tag] = _dummy(tag, elem.VR)
    return out


def _dummy(tag: int, vr: str) -> DataElement:
    if vr in _BINARY_VRS:
        return _new(tag, vr, _BINARY_DUMMY)
    return _new(tag, vr, _DUMMIES.get(_concrete_vr(vr), _DUMMY_TEXT))


def _remapped(elem: DataElement, secret: bytes) -> DataElement:
    value = elem.value
    if not value:
        return _new(elem.tag, "UI", value)
    if isinstance(value, MultiValue | list):
        return _new(elem.tag, "UI", [remap_uid(secret, str(v)) for v in value if v])
    return _new(elem.tag, "UI", remap_uid(secret, str(value)))


def _shifted(elem: DataElement, days: int) -> DataElement:
    """DA/DT values moved by `days`; a value we cannot read is emptied, not released."""
    value = elem.value
    if not value:
        return _new(elem.tag, elem.VR, value)
    values = list(value) if isinstance(value, MultiValue | list) else [value]
    shifted = [_shift_one(str(v), days) for v in values]
    if any(v is None for v in shifted):
        return _new(elem.tag, elem.VR, empty_value_for_VR(elem.VR))
    return _new(elem.tag, elem.VR, shifted if len(shifted) > 1 else shifted[0])


# What may follow the date in a DT value: a time and a UTC offset, nothing else (a range
# "20240115-20240220" holds a second date the shift would leave as it was).
_DT_REST = re.compile(
    r"^(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?(?:[+-][0-9]{4})?$"
)


def _shift_one(value: str, days: int) -> str | None:
    """The date moved by `days`; None (the value is emptied) for anything but one date."""
    value = value.strip()
    if len(value) < 8 or not _DT_REST.match(value[8:]):
        return None
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + value[8:]


# --- what the output says about itself ----------------------------------------------------


def _mark_deidentified(out: Dataset, config: DeidConfig) -> None:
    codes = [_CODE_BASIC]
    methods = [f"DICOM PS3.15 Basic Profile {PROFILE_EDITION}"]
    if config.retain_longitudinal_dates:
        codes.append(_CODE_MODIFIED_DATES)
        methods.append("Retain Longitudinal Modified Dates Option")
    if config.retain_patient_characteristics:
        codes.append(_CODE_PATIENT_CHARACTERISTICS)
        methods.append("Retain Patient Characteristics Option")
    if config.retain_device_identity:
        codes.append(_CODE_DEVICE_IDENTITY)
        methods.append("Retain Device Identity Option")
    if config.safe_private_tags:
        codes.append(_CODE_SAFE_PRIVATE)
        methods.append("Retain Safe Private Option")
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = methods if len(methods) > 1 else methods[0]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    out.DeidentificationMethodCodeSequence = Sequence(items)
    out.LongitudinalTemporalInformationModified = (
        "MODIFIED" if config.retain_longitudinal_dates else "REMOVED"
    )


def _file_meta(src: Dataset, out: Dataset) -> FileMetaDataset:
    """A fresh file meta: the source's may name its station (Source AE Title)."""
    meta = FileMetaDataset()
    source_meta = getattr(src, "file_meta", None)
    syntax = source_meta.get("TransferSyntaxUID") if source_meta is not None else None
    meta.MediaStorageSOPClassUID = out.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.TransferSyntaxUID = syntax or _syntax_of(src)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "AGORA_NODE"
    return meta


def _syntax_of(src: Dataset) -> str:
    """The transfer syntax matching how `src` was decoded (a C-STORE dataset has no meta)."""
    implicit, little_endian = src.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    if little_endian is False:
        return ExplicitVRBigEndian
    return ExplicitVRLittleEndian
