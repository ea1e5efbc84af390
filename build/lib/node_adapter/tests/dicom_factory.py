"""Synthetic DICOM studies full of realistic PHI, for the node adapter's tests.

    datasets = make_study("PAT-001", "DOE^JANE", "19700304", "F")
    paths = write_study(datasets, tmp_path / "incoming")
    phi = phi_values(datasets)   # every original identifying string, for leak scans

Each instance carries PHI at the top level (names, IDs, dates, accession number,
institution, physicians, station), nested in sequences (Referenced Patient, Other Patient
IDs, Request Attributes, Referenced Image, Procedure Code, and a kept sequence with a nested
date), and in private tags, plus an 8x8 uint16 image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "CR": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "OT": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
}
PRIVATE_CREATOR = "ACME HOSPITAL PACS"

# Tags of the PHI-bearing private elements (group 0x0009, block 0x10).
PRIVATE_PHI_TAGS = ((0x0009, 0x1001), (0x0009, 0x1002))


def _uid(*parts: object) -> str:
    """A stable, valid "2.25." UID derived from `parts` (reproducible test data)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:15], 'big')}"


def make_study(
    patient_id: str,
    name: str,
    birth_date: str,
    sex: str,
    *,
    issuer: str = "HOSP-A",
    modality: str = "CT",
    series: int = 2,
    instances: int = 3,
    accession: str | None = None,
    institution: str = "St. Example General Hospital",
    physician: str = "HOUSE^GREGORY^^DR",
    study_date: str = "20240115",
    body_part: str = "CHEST",
    manufacturer: str = "ACME Medical",
    with_private: bool = True,
    nested_sequence_phi: bool = True,
    burned_in: str | None = None,
    study_key: str = "1",
) -> list[pydicom.Dataset]:
    """`series` x `instances` datasets of one study, with file meta, ready to write.

    `study_key` distinguishes two studies of the same patient (their UIDs and accession
    number derive from it); `burned_in` sets BurnedInAnnotation ("YES"/"NO") when given.
    """
    accession = accession or "ACC" + _uid("accession", issuer, patient_id, study_key)[-8:]
    study_uid = _uid("study", issuer, patient_id, study_key)
    frame_uid = _uid("frame", issuer, patient_id, study_key)
    datasets = []
    for series_number in range(1, series + 1):
        series_uid = _uid("series", study_uid, series_number)
        previous_sop = None
        for instance_number in range(1, instances + 1):
            sop_uid = _uid("sop", series_uid, instance_number)
            ds = _instance(
                patient_id=patient_id,
                name=name,
                birth_date=birth_date,
                sex=sex,
                issuer=issuer,
                modality=modality,
                accession=accession,
                institution=institution,
                physician=physician,
                study_date=study_date,
                body_part=body_part,
                manufacturer=manufacturer,
                study_uid=study_uid,
                series_uid=series_uid,
                sop_uid=sop_uid,
                frame_uid=frame_uid,
                series_number=series_number,
                instance_number=instance_number,
            )
            if nested_sequence_phi:
                _add_nested_phi(ds, previous_sop=previous_sop)
            if with_private:
                _add_private_phi(ds)
            if burned_in is not None:
                ds.BurnedInAnnotation = burned_in
            datasets.append(ds)
            previous_sop = sop_uid
    return datasets


def _instance(
    *,
    patient_id: str,
    name: str,
    birth_date: str,
    sex: str,
    issuer: str,
    modality: str,
    accession: str,
    institution: str,
    physician: str,
    study_date: str,
    body_part: str,
    manufacturer: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    frame_uid: str,
    series_number: int,
    instance_number: int,
) -> Dataset:
    sop_class = SOP_CLASSES.get(modality, SOP_CLASSES["OT"])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.SourceApplicationEntityTitle = "CT_ROOM3"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = "101530.123"
    ds.SeriesTime = "101545"
    ds.ContentTime = "101600"
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = "Scanatron 9000"
    ds.InstitutionName = institution
    ds.InstitutionAddress = "1 Hospital Road, Exampletown"
    ds.ReferringPhysicianName = physician
    ds.StationName = "CTROOM3-HOSPA"
    ds.StudyDescription = "CT CHEST W/O CONTRAST"
    ds.SeriesDescription = f"AXIAL {series_number}"
    ds.PerformingPhysicianName = "WILSON^JAMES"
    ds.OperatorsName = "CHASE^ROBERT"
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = issuer
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.PatientAge = "054Y"
    ds.PatientWeight = "71.5"
    ds.PatientAddress = "221B Baker Street, London"
    ds.PatientTelephoneNumbers = "+44 20 7946 0958"
    ds.OtherPatientNames = "SMITH^JANE"
    ds.BodyPartExamined = body_part
    ds.DeviceSerialNumber = "SN-4471-XQ"
    ds.ProtocolName = "CHEST ROUTINE"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyID = "S" + accession[-6:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.ImageComments = f"Patient {name} arrived by ambulance"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    pixels = (np.arange(64, dtype=np.uint16).reshape(8, 8) * (instance_number + 1)) % 4096
    ds.PixelData = pixels.tobytes()
    return ds


def _add_nested_phi(ds: Dataset, *, previous_sop: str | None) -> None:
    patient = Dataset()
    patient.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"
    patient.ReferencedSOPInstanceUID = _uid("patient", ds.PatientID)
    ds.ReferencedPatientSequence = Sequence([patient])

    other_id = Dataset()
    other_id.PatientID = "MRN-" + str(ds.PatientID)
    other_id.IssuerOfPatientID = "OTHER-HOSP"
    ds.OtherPatientIDsSequence = Sequence([other_id])

    request = Dataset()
    request.AccessionNumber = ds.AccessionNumber
    request.RequestedProcedureID = "RP-" + str(ds.AccessionNumber)
    request.ScheduledProcedureStepID = "SPS-" + str(ds.AccessionNumber)
    request.RequestingPhysician = "CUDDY^LISA"
    ds.RequestAttributesSequence = Sequence([request])

    # Kept by the profile: its items are de-identified one by one.
    code = Dataset()
    code.CodeValue = "CTCHEST"
    code.CodingSchemeDesignator = "99ACME"
    code.CodeMeaning = "CT chest"
    ds.ProcedureCodeSequence = Sequence([code])

    # A kept sequence holding a date, a physician and an accession number deep inside.
    anatomic = Dataset()
    anatomic.CodeValue = "51185008"
    anatomic.CodingSchemeDesignator = "SCT"
    anatomic.CodeMeaning = "Chest"
    inner = Dataset()
    inner.ReferringPhysicianName = ds.ReferringPhysicianName
    inner.StudyDate = ds.StudyDate
    inner.AccessionNumber = ds.AccessionNumber
    inner.PatientBirthDate = ds.PatientBirthDate
    anatomic.ReferencedRequestSequence = Sequence([inner])
    ds.AnatomicRegionSequence = Sequence([anatomic])

    if previous_sop:
        image = Dataset()
        image.ReferencedSOPClassUID = ds.SOPClassUID
        image.ReferencedSOPInstanceUID = previous_sop
        ds.ReferencedImageSequence = Sequence([image])


def _add_private_phi(ds: Dataset) -> None:
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", f"{ds.PatientName} / {ds.PatientID}")
    block.add_new(0x02, "LO", str(ds.PatientBirthDate))
    block.add_new(0x03, "DS", "2.5")  # a harmless value a site may list as safe


def write_study(datasets: list[pydicom.Dataset], folder: Path) -> list[Path]:
    """Write each dataset to `folder` (created) as <series>/<instance>.dcm; returns the paths."""
    folder = Path(folder)
    paths = []
    for ds in datasets:
        path = folder / f"series{ds.SeriesNumber}" / f"im{ds.InstanceNumber:04d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


_PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "RequestingPhysician",
    "StationName",
    "DeviceSerialNumber",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "OtherPatientNames",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID",
    "MediaStorageSOPInstanceUID",
)


def phi_values(datasets: list[pydicom.Dataset]) -> set[str]:
    """Every original identifying string in `datasets` (names also split into their parts).

    Walks nested sequences and the file meta. Values shorter than 4 characters (e.g. sex)
    are left out: they would match by chance anywhere in a file.
    """
    found: set[str] = set()

    def collect(ds: Dataset) -> None:
        for elem in ds.iterall():
            if elem.keyword in _PHI_KEYWORDS and elem.value not in (None, ""):
                values = elem.value if elem.VM > 1 else [elem.value]
                for value in values:
                    text = str(value).strip()
                    found.add(text)
                    if elem.VR == "PN":
                        found.update(part for part in text.split("^") if part)
            elif elem.tag.is_private and not elem.tag.is_private_creator and elem.VR == "LO":
                found.add(str(elem.value).strip())

    for ds in datasets:
        collect(ds)
        if hasattr(ds, "file_meta"):
            collect(ds.file_meta)
    return {value for value in found if len(value) >= 4}
