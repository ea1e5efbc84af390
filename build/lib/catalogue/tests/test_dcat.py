"""The DCAT-AP 3 output, as a harvester (another hub, a CKAN with ckanext-dcat) sees it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, SKOS, XSD

from catalogue import services
from catalogue.dcat import ADMS, DCAT, HEALTH, HYDRA, VCARD
from catalogue.models import Dataset
from hub.services import create_api_token

STANDARDS = Path(__file__).resolve().parents[2] / "hyperontology" / "shapes"
SITE = "http://hub.example"
CATALOGUE_URL = "/catalogue/dcat"
FORMATS = {
    "ttl": ("text/turtle", "turtle"),
    "rdf": ("application/rdf+xml", "xml"),
    "jsonld": ("application/ld+json", "json-ld"),
}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE
    settings.DCAT_PAGE_SIZE = 100


@pytest.fixture(scope="module")
def shapes() -> Graph:
    """DCAT-AP 3.0.1 mandatory shapes."""
    return Graph().parse(STANDARDS / "shapes.ttl", format="turtle")


@pytest.fixture(scope="module")
def full_shapes() -> Graph:
    """DCAT-AP 3.0.1 complete shapes, with the range (class) checks."""
    return Graph().parse(STANDARDS / "dcat-ap-SHACL.ttl", format="turtle")


def conforms(graph: Graph, *shapes: Graph) -> tuple[bool, str]:
    for shacl in shapes:
        ok, _, text = validate(graph, shacl_graph=shacl, inference="none", abort_on_first=False)
        if not ok:
            return ok, text
    return True, ""


def parsed(response, rdflib_format: str | None = None) -> Graph:
    assert response.status_code == 200, response.content[:500]
    media_type = response["Content-Type"].split(";")[0]
    rdflib_format = rdflib_format or {mt: f for mt, f in FORMATS.values()}[media_type]
    return Graph().parse(data=response.content, format=rdflib_format)


def uri(dataset: Dataset) -> URIRef:
    return URIRef(f"{SITE}/datasets/{dataset.pk}/")


def datasets_in(graph: Graph) -> set[URIRef]:
    return set(graph.objects(URIRef(SITE + CATALOGUE_URL), DCAT.dataset))


def page_node(graph: Graph) -> URIRef:
    (node,) = graph.subjects(RDF.type, HYDRA.PagedCollection)
    return node


def link(graph: Graph, relation: str) -> str | None:
    value = graph.value(page_node(graph), HYDRA[relation])
    return str(value) if value is not None else None


def harvest(client) -> Graph:
    """Follow hydra:next from page 1 to the end, the way a harvester does."""
    url = CATALOGUE_URL
    merged, seen = Graph(), []
    while url:
        graph = parsed(client.get(url))
        seen.append(str(page_node(graph)))
        merged += graph
        following = link(graph, "next")
        assert following not in seen, "paging loops"
        url = following.removeprefix(SITE) if following else None
    return merged


@pytest.fixture
def rich_dataset(make_dataset, provider_a):
    """A published second version with a DOI: every mapped field is present."""
    first = make_dataset(state="published", identifier="LUNG-CT-1")
    second = services.create_new_version(dataset=first, by=provider_a)
    second = services.update_dataset(
        dataset=second,
        by=provider_a,
        diagnoses=["C34.1", "lung nodule, unspecified"],
        duo_terms=["DUO:0000007", "DUO:0000042"],
        size_bytes=5_000_000,
    )
    second = services.release_dataset(dataset=second, by=provider_a)
    second = services.publish_dataset(dataset=second, by=provider_a)
    Dataset.objects.filter(pk=second.pk).update(doi="10.5281/zenodo.1234567")
    return Dataset.objects.select_related("organisation").get(pk=second.pk)


# --- conformance ---------------------------------------------------------------------


@pytest.mark.parametrize("key", FORMATS)
def test_whole_catalogue_conforms_to_dcat_ap_in_every_format(
    key, api, rich_dataset, make_dataset, shapes, full_shapes, org_a
):
    org_a.homepage = "https://hospital-a.example/"
    org_a.save()
    make_dataset(
        state="published",
        title="Breast MRI",
        keywords=[],
        contact_name="",
        contact_email="",
        license="",
    )
    response = api.anonymous().get(CATALOGUE_URL, {"format": key})
    assert response["Content-Type"] == f"{FORMATS[key][0]}; charset=utf-8"
    graph = parsed(response, FORMATS[key][1])
    assert len(datasets_in(graph)) == 3
    ok, report = conforms(graph, shapes, full_shapes)
    assert ok, report


@pytest.mark.parametrize("key", FORMATS)
def test_single_dataset_conforms_to_dcat_ap_in_every_format(
    key, api, rich_dataset, shapes, full_shapes
):
    response = api.anonymous().get(f"/catalogue/datasets/{rich_dataset.pk}.{key}")
    assert response["Content-Type"] == f"{FORMATS[key][0]}; charset=utf-8"
    graph = parsed(response, FORMATS[key][1])
    assert (uri(rich_dataset), RDF.type, DCAT.Dataset) in graph
    ok, report = conforms(graph, shapes, full_shapes)
    assert ok, report


def test_the_shapes_do_reject_a_dataset_without_title(api, rich_dataset, shapes):
    """Guards the two tests above against validating nothing."""
    graph = parsed(api.anonymous().get(f"/catalogue/datasets/{rich_dataset.pk}.ttl"))
    graph.remove((uri(rich_dataset), DCTERMS.title, None))
    ok, report = conforms(graph, shapes)
    assert not ok
    assert "title" in report


def test_awkward_provider_values_still_give_parseable_conforming_output(
    api, make_dataset, shapes, full_shapes
):
    dataset = make_dataset(
        state="published",
        title='CT \x01with\x07 control <characters> & "quotes"',
        description="Line one\x0bline two ]]> </rdf:RDF>",
        license="not a url",
        contact_email="a b@example.org",
        diagnoses=["cancer of the lung", "c50.9"],
        duo_terms=["DUO:12"],
        keywords=["  ", "ok", "ok"],
        authors=["just a string", {"affiliation": "no name"}, {"name": "B. Surgeon"}],
    )
    for key, (_, rdflib_format) in FORMATS.items():
        graph = parsed(
            api.anonymous().get(f"/catalogue/datasets/{dataset.pk}.{key}"), rdflib_format
        )
        ok, report = conforms(graph, shapes, full_shapes)
        assert ok, report
        node = uri(dataset)
        assert str(graph.value(node, DCTERMS.title)) == 'CT with control <characters> & "quotes"'
        assert graph.value(node, DCTERMS.license) is None
        assert (
            node,
            DCTERMS.subject,
            URIRef("http://purl.bioontology.org/ontology/ICD10/C50.9"),
        ) in graph
        assert (node, DCAT.keyword, Literal("cancer of the lung")) in graph
        assert list(graph.objects(node, DCTERMS.rights)) == []
        assert [str(n) for n in graph.objects(node, DCTERMS.creator / FOAF.name)] == ["B. Surgeon"]


# --- what a harvester reads ---------------------------------------------------------


def test_dataset_fields_map_to_dcat_ap_and_healthdcat_ap(api, rich_dataset, org_a):
    graph = parsed(api.anonymous().get(f"/catalogue/datasets/{rich_dataset.pk}.ttl"))
    node = uri(rich_dataset)
    previous = URIRef(f"{SITE}/datasets/{rich_dataset.previous_version_id}/")

    assert graph.value(node, DCTERMS.identifier) == Literal(str(rich_dataset.pk))
    assert graph.value(node, DCTERMS.title) == Literal("Lung cancer screening CT")
    assert graph.value(node, DCAT.version) == Literal("2")
    assert graph.value(node, DCAT.previousVersion) == previous
    assert graph.value(node, DCAT.theme) == URIRef(
        "http://publications.europa.eu/resource/authority/data-theme/HEAL"
    )
    assert graph.value(node, DCTERMS.accessRights) == URIRef(
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
    )
    publisher = graph.value(node, DCTERMS.publisher)
    assert publisher == URIRef(f"{SITE}/organisations/hospital-a")
    assert graph.value(publisher, FOAF.name) == Literal("Hospital A")
    contact = graph.value(node, DCAT.contactPoint)
    assert (contact, RDF.type, VCARD.Kind) in graph
    assert graph.value(contact, VCARD.fn) == Literal("Imaging data desk")
    assert graph.value(contact, VCARD.hasEmail) == URIRef("mailto:imaging@hospital-a.example")
    assert {str(k) for k in graph.objects(node, DCAT.keyword)} >= {
        "lung",
        "screening",
        "CT",
        "CHEST",
    }
    assert set(graph.objects(node, DCTERMS.subject)) == {
        URIRef("http://purl.bioontology.org/ontology/ICD10/C34.1")
    }
    assert set(graph.objects(node, DCTERMS.rights)) == {
        URIRef("http://purl.obolibrary.org/obo/DUO_0000007"),
        URIRef("http://purl.obolibrary.org/obo/DUO_0000042"),
    }
    assert graph.value(node, HEALTH.numberOfUniqueIndividuals) == Literal(
        300, datatype=XSD.nonNegativeInteger
    )
    assert graph.value(node, HEALTH.numberOfRecords) == Literal(
        420, datatype=XSD.nonNegativeInteger
    )
    assert graph.value(node, HEALTH.minTypicalAge).toPython() == 50
    assert graph.value(node, HEALTH.maxTypicalAge).toPython() == 80
    assert graph.value(node, DCTERMS.issued).toPython() == rich_dataset.released_at
    assert graph.value(node, DCTERMS.modified).toPython() == rich_dataset.modified
    assert {str(graph.value(i, SKOS.notation)) for i in graph.objects(node, ADMS.identifier)} == {
        "https://doi.org/10.5281/zenodo.1234567",
        "LUNG-CT-1",  # inherited from version 1, which keeps it as its dct:identifier
    }

    distribution = graph.value(node, DCAT.distribution)
    assert (distribution, RDF.type, DCAT.Distribution) in graph
    assert graph.value(distribution, DCAT.accessURL) == node
    assert graph.value(distribution, DCAT.downloadURL) is None
    assert graph.value(distribution, DCAT.byteSize).toPython() == 5_000_000
    assert graph.value(distribution, DCTERMS.format) == URIRef(
        "http://publications.europa.eu/resource/authority/file-type/DCM"
    )
    license_ = URIRef("https://creativecommons.org/licenses/by-nc/4.0/")
    assert graph.value(distribution, DCTERMS.license) == license_
    assert graph.value(node, DCTERMS.license) == license_


def test_versions_never_share_a_dct_identifier(api, rich_dataset):
    """Harvesters key datasets by dct:identifier: versions sharing one would be merged."""
    graph = harvest(api.anonymous())
    first = URIRef(f"{SITE}/datasets/{rich_dataset.previous_version_id}/")
    assert graph.value(first, DCTERMS.identifier) == Literal("LUNG-CT-1")
    identifiers = [graph.value(node, DCTERMS.identifier) for node in datasets_in(graph)]
    assert len(identifiers) == len(set(identifiers)) == 2


def test_catalogue_describes_itself(api, make_dataset, settings):
    settings.CATALOGUE_TITLE = "Test hub catalogue"
    settings.CATALOGUE_PUBLISHER = "Test hub operator"
    newest = make_dataset(state="published")
    graph = parsed(api.anonymous().get(CATALOGUE_URL))
    catalogue = URIRef(SITE + CATALOGUE_URL)
    assert (catalogue, RDF.type, DCAT.Catalog) in graph
    assert graph.value(catalogue, DCTERMS.title) == Literal("Test hub catalogue")
    assert graph.value(catalogue, DCTERMS.description) is not None
    assert graph.value(graph.value(catalogue, DCTERMS.publisher), FOAF.name) == Literal(
        "Test hub operator"
    )
    assert graph.value(catalogue, DCTERMS.modified).toPython() == newest.modified
    assert datasets_in(graph) == {uri(newest)}


def test_previous_version_is_linked_only_when_the_caller_can_see_it(
    api, make_dataset, provider_a, researcher
):
    first = make_dataset(state="released")
    second = services.create_new_version(dataset=first, by=provider_a)
    second = services.release_dataset(dataset=second, by=provider_a)
    second = services.publish_dataset(dataset=second, by=provider_a)

    for anonymous in (
        harvest(api.anonymous()),
        parsed(api.anonymous().get(f"/catalogue/datasets/{second.pk}.ttl")),
    ):
        assert anonymous.value(uri(second), DCAT.version) == Literal("2")
        assert anonymous.value(uri(second), DCAT.previousVersion) is None
    assert parsed(api.as_(researcher).get(f"/catalogue/datasets/{second.pk}.rdf")).value(
        uri(second), DCAT.previousVersion
    ) == uri(first)
    signed_in = harvest(api.as_(researcher))
    assert signed_in.value(uri(second), DCAT.previousVersion) == uri(first)


# --- who sees what ------------------------------------------------------------------


@pytest.fixture
def lifecycle(make_dataset, org_b, provider_b):
    return {
        "draft_a": make_dataset(state="draft", title="Draft A"),
        "released_a": make_dataset(state="released", title="Released A"),
        "published_a": make_dataset(state="published", title="Published A"),
        "invalidated_a": make_dataset(state="invalidated", title="Invalidated A"),
        "draft_b": make_dataset(state="draft", title="Draft B", organisation=org_b, by=provider_b),
        "published_b": make_dataset(
            state="published", title="Published B", organisation=org_b, by=provider_b
        ),
    }


def _seen(graph: Graph, lifecycle) -> set[str]:
    by_uri = {uri(d): name for name, d in lifecycle.items()}
    return {by_uri[node] for node in datasets_in(graph)}


def test_anonymous_harvester_sees_only_published_datasets(api, lifecycle):
    assert _seen(harvest(api.anonymous()), lifecycle) == {"published_a", "published_b"}


def test_signed_in_user_sees_released_and_published(api, lifecycle, researcher):
    assert _seen(harvest(api.as_(researcher)), lifecycle) == {
        "released_a",
        "published_a",
        "published_b",
    }


def test_provider_sees_own_drafts_but_never_another_organisations(
    api, lifecycle, provider_a, provider_b
):
    assert _seen(harvest(api.as_(provider_a)), lifecycle) == {
        "draft_a",
        "released_a",
        "published_a",
        "published_b",
    }
    assert "draft_a" not in _seen(harvest(api.as_(provider_b)), lifecycle)


def test_machine_token_harvests_with_its_users_visibility(api, lifecycle, researcher):
    token = create_api_token(username=researcher.username)
    response = api.anonymous().get(CATALOGUE_URL, HTTP_AUTHORIZATION=f"Token {token}")
    assert _seen(parsed(response), lifecycle) == {"released_a", "published_a", "published_b"}
    assert response["Cache-Control"] == "private"
    bad = api.anonymous().get(CATALOGUE_URL, HTTP_AUTHORIZATION="Token agora_wrong")
    assert bad.status_code == 401


def test_single_dataset_follows_the_same_visibility(api, lifecycle, researcher, provider_a):
    def status(client, name, ext="ttl"):
        return client.get(f"/catalogue/datasets/{lifecycle[name].pk}.{ext}").status_code

    assert status(api.anonymous(), "published_a") == 200
    assert status(api.anonymous(), "released_a") == 404
    assert status(api.as_(researcher), "released_a") == 200
    assert status(api.as_(researcher), "draft_a") == 404
    assert status(api.as_(provider_a), "draft_a", "jsonld") == 200
    assert status(api.as_(provider_a), "draft_b", "rdf") == 404


def test_invalidated_dataset_answers_410_with_its_tombstone(api, lifecycle, researcher):
    dataset = lifecycle["invalidated_a"]
    response = api.as_(researcher).get(f"/catalogue/datasets/{dataset.pk}.ttl")
    assert response.status_code == 410
    assert response.json()["reason"] == "Consent withdrawn"
    assert response.json()["id"] == str(dataset.pk)
    # It was only released, so the public never knew it: no tombstone for them.
    assert api.anonymous().get(f"/catalogue/datasets/{dataset.pk}.ttl").status_code == 404


def test_unknown_dataset_or_extension_is_404_naming_it(api, make_dataset):
    dataset = make_dataset(state="published")
    response = api.anonymous().get(f"/catalogue/datasets/{dataset.pk}.csv")
    assert response.status_code == 404
    assert "'csv'" in response.json()["detail"]
    missing = "00000000-0000-0000-0000-000000000000"
    assert api.anonymous().get(f"/catalogue/datasets/{missing}.ttl").status_code == 404


# --- paging -------------------------------------------------------------------------


@pytest.fixture
def five_published(make_dataset, settings):
    settings.DCAT_PAGE_SIZE = 2
    return [make_dataset(state="published", title=f"Dataset {n}") for n in range(5)]


def test_hydra_paging_links_three_pages(api, five_published):
    client = api.anonymous()
    first = parsed(client.get(CATALOGUE_URL))
    page = page_node(first)
    assert first.value(page, HYDRA.totalItems).toPython() == 5
    assert first.value(page, HYDRA.itemsPerPage).toPython() == 2
    assert link(first, "first") == f"{SITE}{CATALOGUE_URL}?page=1"
    assert link(first, "last") == f"{SITE}{CATALOGUE_URL}?page=3"
    assert link(first, "next") == f"{SITE}{CATALOGUE_URL}?page=2"
    assert link(first, "previous") is None
    # The older Hydra terms, read by e.g. ckanext-dcat, say the same.
    assert str(first.value(page, HYDRA.nextPage)) == link(first, "next")

    second = parsed(client.get(CATALOGUE_URL, {"page": 2}))
    assert link(second, "previous") == f"{SITE}{CATALOGUE_URL}?page=1"
    assert link(second, "next") == f"{SITE}{CATALOGUE_URL}?page=3"

    last = parsed(client.get(CATALOGUE_URL, {"page": 3}))
    assert link(last, "next") is None
    assert link(last, "previous") == f"{SITE}{CATALOGUE_URL}?page=2"
    assert len(datasets_in(last)) == 1


def test_following_next_visits_every_dataset_once(api, five_published):
    client = api.anonymous()
    pages, url = [], CATALOGUE_URL
    while url:
        graph = parsed(client.get(url))
        pages.append(datasets_in(graph))
        url = (link(graph, "next") or "").removeprefix(SITE)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert set().union(*pages) == {uri(d) for d in five_published}


def test_editing_a_dataset_during_a_harvest_does_not_move_it_between_pages(
    api, five_published, provider_a
):
    client = api.anonymous()
    first = datasets_in(parsed(client.get(CATALOGUE_URL)))
    edited = next(d for d in five_published if uri(d) in first)
    services.update_dataset(dataset=edited, by=provider_a, contact_name="New desk")
    assert datasets_in(parsed(client.get(CATALOGUE_URL))) == first


@pytest.mark.parametrize("page", ["4", "0", "-1", "two", "1.0", "", "٣", "99999999999"])
def test_page_outside_the_catalogue_is_400_naming_page(api, five_published, page):
    response = api.anonymous().get(CATALOGUE_URL, {"page": page})
    if page == "":
        assert response.status_code == 200  # empty means the first page
        return
    assert response.status_code == 400
    assert response.json()["parameter"] == "page"
    assert "page" in response.json()["detail"]


def test_empty_catalogue_is_one_empty_page(api, shapes):
    graph = parsed(api.anonymous().get(CATALOGUE_URL))
    assert datasets_in(graph) == set()
    assert graph.value(page_node(graph), HYDRA.totalItems).toPython() == 0
    assert link(graph, "last") == link(graph, "first")
    assert conforms(graph, shapes)[0]


def test_queries_per_page_do_not_grow_with_the_page(
    api, make_dataset, provider_a, django_assert_max_num_queries
):
    services.create_new_version(
        dataset=make_dataset(state="published", identifier="ID"), by=provider_a
    )
    client = api.as_(provider_a)
    with django_assert_max_num_queries(100) as few:
        client.get(CATALOGUE_URL)
    baseline = len(few.captured_queries)
    for n in range(8):
        first = make_dataset(state="published", title=f"More {n}", identifier=f"ID-{n}")
        services.create_new_version(dataset=first, by=provider_a)
    with django_assert_max_num_queries(baseline) as many:
        assert client.get(CATALOGUE_URL).status_code == 200
    assert len(many.captured_queries) <= baseline


# --- filtering --------------------------------------------------------------------------


def test_modified_since_returns_only_recent_changes_and_pages_keep_it(api, five_published):
    old, recent = five_published[:3], five_published[3:]
    long_ago = timezone.now() - timedelta(days=30)
    Dataset.objects.filter(pk__in=[d.pk for d in old]).update(modified=long_ago)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()

    graph = parsed(api.anonymous().get(CATALOGUE_URL, {"modified_since": since}))
    assert datasets_in(graph) == {uri(d) for d in recent}
    assert graph.value(page_node(graph), HYDRA.totalItems).toPython() == 2
    assert link(graph, "last") == f"{SITE}{CATALOGUE_URL}?modified_since={since}&page=1"


def test_malformed_modified_since_is_400_naming_it(api):
    response = api.anonymous().get(CATALOGUE_URL, {"modified_since": "last tuesday"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "modified_since"


def test_unknown_parameter_is_400_naming_it(api):
    response = api.anonymous().get(CATALOGUE_URL, {"page_size": "1000"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "page_size"
    assert "page_size" in response.json()["detail"]
    response = api.anonymous().get(CATALOGUE_URL + "?page=1&page=2")
    assert response.status_code == 400
    assert response.json()["parameter"] == "page"


# --- content negotiation ------------------------------------------------------------


@pytest.mark.parametrize(
    "accept, media_type",
    [
        ("text/turtle", "text/turtle"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("application/ld+json", "application/ld+json"),
        (
            'application/ld+json; profile="http://www.w3.org/ns/json-ld#compacted"',
            "application/ld+json",
        ),
        ("text/turtle;q=0.5, application/rdf+xml;q=0.9", "application/rdf+xml"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/turtle"),
        ("*/*", "text/turtle"),
        ("*/*;q=0.5, text/turtle;q=0", "application/rdf+xml"),
        ("application/*", "application/rdf+xml"),
        ("", "text/turtle"),
        (None, "text/turtle"),
    ],
)
def test_accept_header_chooses_the_serialisation(api, make_dataset, accept, media_type):
    dataset = make_dataset(state="published")
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.anonymous().get(CATALOGUE_URL, **headers)
    assert response["Content-Type"].split(";")[0] == media_type
    assert uri(dataset) in datasets_in(parsed(response))
    assert "Accept" in response["Vary"]


@pytest.mark.parametrize("accept", ["text/html", "application/json", "text/turtle;q=0", "nonsense"])
def test_unsupported_accept_is_406_naming_the_supported_types(api, accept):
    response = api.anonymous().get(CATALOGUE_URL, HTTP_ACCEPT=accept)
    assert response.status_code == 406
    detail = response.json()["detail"]
    assert all(t in detail for t in ("text/turtle", "application/rdf+xml", "application/ld+json"))


def test_format_parameter_overrides_accept(api, make_dataset):
    make_dataset(state="published")
    response = api.anonymous().get(CATALOGUE_URL, {"format": "jsonld"}, HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == "application/ld+json; charset=utf-8"
    graph = parsed(response)
    assert link(graph, "next") is None
    assert link(graph, "first") == f"{SITE}{CATALOGUE_URL}?format=jsonld&page=1"


@pytest.mark.parametrize("value", ["xml", "turtle", "TTL", "json"])
def test_unknown_format_is_400_naming_the_parameter(api, value):
    response = api.anonymous().get(CATALOGUE_URL, {"format": value})
    assert response.status_code == 400
    assert response.json()["parameter"] == "format"
    assert "ttl, rdf, jsonld" in response.json()["detail"]


# --- caching ----------------------------------------------------------------------------


def test_unchanged_catalogue_answers_304_to_a_conditional_get(api, make_dataset, provider_a):
    dataset = make_dataset(state="published")
    client = api.anonymous()
    first = client.get(CATALOGUE_URL)
    etag = first["ETag"]
    assert client.get(CATALOGUE_URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    services.update_dataset(dataset=dataset, by=provider_a, contact_name="New desk")
    changed = client.get(CATALOGUE_URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


# --- never a 500 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "?page=%00",
        "?modified_since=2026-13-45",
        "?modified_since=%ff%fe",
        "?format=%00",
        "?page=1e9",
        "?%00=1",
        "?format=ttl&format=rdf",
    ],
)
def test_malformed_queries_get_a_4xx(api, make_dataset, query):
    make_dataset(state="published")
    response = api.anonymous().get(CATALOGUE_URL + query)
    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == "application/json"


def test_head_answers_like_get_without_body(api, make_dataset):
    make_dataset(state="published")
    response = api.anonymous().head(CATALOGUE_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/turtle; charset=utf-8"
