from pathlib import Path

from rdflib import Graph

from harvester import records
from harvester.tests.catalogues import page_turtle
from hyperontology import normalise

DATA = Path(__file__).parent / "data"


def _graph(text: str, fmt: str = "turtle") -> Graph:
    return normalise(Graph().parse(data=text, format=fmt))


def _records(text: str, fmt: str = "turtle") -> dict[str, records.Record]:
    return {r.identifier: r for r in records.split(_graph(text, fmt))}


def test_each_record_carries_what_it_reaches_but_not_other_datasets():
    recs = _records(page_turtle(range(3)))
    assert sorted(recs) == ["ds-0", "ds-1", "ds-2"]
    subjects = {str(s) for s, _, _ in recs["ds-0"].triples}
    assert "https://node.example/datasets/publisher" in subjects  # an IRI node it links to
    assert not any(s.endswith("/ds-1") or s.endswith("/catalogue") for s in subjects)


def test_hash_ignores_serialisation_and_blank_node_labels():
    text = page_turtle(range(2))
    graph = Graph().parse(data=text, format="turtle")
    as_xml = graph.serialize(format="xml")
    as_jsonld = graph.serialize(format="json-ld")
    hashes = {
        fmt: {k: r.content_hash for k, r in _records(body, fmt).items()}
        for fmt, body in (("turtle", text), ("xml", as_xml), ("json-ld", as_jsonld))
    }
    assert hashes["turtle"] == hashes["xml"] == hashes["json-ld"]


def test_hash_changes_with_content_and_only_for_the_changed_record():
    before = _records(page_turtle(range(3)))
    after = _records(page_turtle(range(3), revisions={1: 1}))
    assert before["ds-0"].content_hash == after["ds-0"].content_hash
    assert before["ds-1"].content_hash != after["ds-1"].content_hash


def test_fields_of_the_healthdcat_example():
    graph = _graph((DATA / "healthdcat-imaging-dataset.ttl").read_text())
    fields = records.fields(graph, "https://node.hospital-x.example/datasets/crlm-ct")
    assert fields["title"] == "Colorectal liver metastases CT collection"
    assert fields["number_of_subjects"] == 197 and fields["number_of_studies"] == 233
    assert (fields["age_min"], fields["age_max"]) == (34, 86)
    assert fields["diagnoses"] == ["C78.7"]
    assert fields["access_rights"] == "RESTRICTED"
    assert fields["contact_email"] == "imaging-data@hospital-x.example"
    assert fields["keywords"] == ["CT", "colorectal cancer", "liver"]
    # "CT" in the keywords is found by the mappings: the modality is filled in.
    assert fields["modalities"] == ["CT"]


def test_stored_text_is_the_canonical_ntriples_that_is_hashed():
    rec = _records(page_turtle([4]))["ds-4"]
    reparsed = Graph().parse(data=rec.ntriples, format="nt")
    assert len(reparsed) == len(rec.triples)
    again = {r.identifier: r for r in records.split(reparsed)}["ds-4"]
    assert again.content_hash == rec.content_hash
