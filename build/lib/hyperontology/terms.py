"""The namespaces and terms of the common model (model.ttl defines them in RDF)."""

from rdflib import Namespace

AGORA = Namespace("https://w3id.org/agora/ns#")
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
DCM = Namespace("http://dicom.nema.org/resources/ontology/DCM/")
ICD10 = Namespace("http://purl.bioontology.org/ontology/ICD10/")
OBO = Namespace("http://purl.obolibrary.org/obo/")  # DUO terms: OBO.DUO_0000007
ACCESS_RIGHT = Namespace("http://publications.europa.eu/resource/authority/access-right/")

# The hub's imaging terms (model.ttl):
IMAGING_MODALITY = AGORA.imagingModality  # IRI in DCM: (DICOM CID 29 codes: DCM:CT, DCM:MR ...)
BODY_PART = AGORA.bodyPart  # literal, DICOM Body Part Examined code: "CHEST", "ABDOMEN" ...
SEX = AGORA.sex  # literal: "female", "male", "other", "unknown"
DATA_USE = AGORA.dataUseCondition  # IRI of a DUO term: OBO.DUO_0000007
# Reused terms: HEALTH.numberOfUniqueIndividuals (subjects), HEALTH.numberOfRecords
# (studies), HEALTH.minTypicalAge, HEALTH.maxTypicalAge, dct:subject (ICD-10 IRI),
# dct:accessRights (ACCESS_RIGHT.PUBLIC / RESTRICTED / NON_PUBLIC).
