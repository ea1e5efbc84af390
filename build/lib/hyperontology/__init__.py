"""The hub's common model for imaging datasets: vocabulary, SHACL shapes, term mappings and
the MIABIS <-> DCAT crosswalk. Plain Python with rdflib and pyshacl: importable without
Django (the node adapter uses it too).

    from hyperontology import normalise, validate
    graph = normalise(graph)          # local labels -> standard codes, free text searched
    report = validate(graph)          # per dataset: accepted or rejected, in plain words
"""

from .duo import Duo
from .duo import match as duo_match
from .miabis import dcat_to_miabis, miabis_to_dcat
from .normalise import normalise
from .validate import validate

__all__ = ["Duo", "dcat_to_miabis", "duo_match", "miabis_to_dcat", "normalise", "validate"]
