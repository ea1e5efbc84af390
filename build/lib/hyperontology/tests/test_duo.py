"""DUO matching, checked on DUO's own terms and definitions (vocabularies/duo.owl, release
2021-02-23):

- DUO:0000042 GRU "use is allowed for general research use for any research purpose";
  subclass of DUO:0000001 data use permission.
- DUO:0000006 HMB "use is allowed for health/medical/biomedical purposes; does not include the
  study of population origins or ancestry"; subclass of GRU.
- DUO:0000007 DS "use is allowed provided it is related to the specified disease"; subclass
  of HMB.
- DUO:0000011 POA "limited to the study of population origins or ancestry"; subclass of
  DUO:0000001 only, a sibling of GRU.
- DUO:0000004 NRES "there is no restriction on use"; subclass of DUO:0000001.
"""

import pytest
from rdflib import URIRef

from hyperontology.duo import (
    ICD10_CHAPTERS,
    Duo,
    Icd10,
    icd10_contains,
    match,
)
from hyperontology.miabis import USE_CONDITIONS
from hyperontology.terms import ICD10, OBO

GRU, HMB, DS, POA, NRES = "DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000011", "DUO:0000004"
IRB, COL, PUB, TS, NPUNCU, NCU = (
    "DUO:0000021",
    "DUO:0000020",
    "DUO:0000019",
    "DUO:0000025",
    "DUO:0000018",
    "DUO:0000046",
)


@pytest.fixture(scope="module")
def duo() -> Duo:
    return Duo.load()


# --- the ontology --------------------------------------------------------------------------


def test_load_is_cached(duo):
    assert Duo.load() is duo


def test_hierarchy_of_the_primary_permissions(duo):
    assert duo.parents(GRU) == ("DUO:0000001",)
    assert duo.parents(HMB) == (GRU,)
    assert duo.parents(DS) == (HMB,)
    assert duo.ancestors(DS) == {HMB, GRU, "DUO:0000001"}
    assert duo.parents(POA) == ("DUO:0000001",)
    assert duo.parents(NRES) == ("DUO:0000001",)
    assert duo.descendants(GRU) == {HMB, DS}


def test_labels_definitions_and_kinds(duo):
    assert duo.label(GRU) == "general research use"
    assert duo.label(HMB) == "health or medical or biomedical research"
    assert duo.term(DS).shorthand == "DS"
    assert duo.term(DS).definition.startswith("This data use permission indicates that use")
    for term in (GRU, HMB, DS, POA, NRES):
        assert duo.is_permission(term) and not duo.is_modifier(term)
    for term in (IRB, COL, PUB, TS, NPUNCU, NCU, "DUO:0000044"):
        assert duo.is_modifier(term) and not duo.is_permission(term)
    # The roots themselves and obsolete terms are neither.
    assert duo.term("DUO:0000001").kind == duo.term("DUO:0000017").kind == "other"
    assert duo.term("DUO:0000005").obsolete and duo.term("DUO:0000005").kind == "other"


@pytest.mark.parametrize(
    "form",
    [
        "DUO:0000007",
        "DUO_0000007",
        "duo:0000007",
        "http://purl.obolibrary.org/obo/DUO_0000007",
        OBO.DUO_0000007,
        " DUO:0000007 ",
    ],
)
def test_id_forms(duo, form):
    assert duo.resolve(form) == DS
    assert duo.label(form) == "disease specific research"


def test_npoa_iri_typo_in_the_release_still_resolves(duo):
    # duo.owl writes NPOA's IRI as DUO_00000044 but declares oboInOwl:id DUO:0000044.
    assert duo.resolve("DUO:0000044") == "DUO:0000044"
    assert duo.resolve("http://purl.obolibrary.org/obo/DUO_00000044") == "DUO:0000044"
    assert duo.label(OBO.DUO_0000044) == "population origins or ancestry research prohibited"


@pytest.mark.parametrize(
    "bad", ["DUO:9999999", "HMB", "http://purl.obolibrary.org/obo/OBI_0000066"]
)
def test_unknown_term_raises_naming_it(duo, bad):
    with pytest.raises(ValueError, match="unknown DUO term"):
        duo.ancestors(bad)
    with pytest.raises(ValueError, match=repr(bad)):
        duo.label(bad)


def test_match_names_every_unknown_term():
    with pytest.raises(ValueError, match="DUO:9999998"):
        match([GRU, "DUO:9999998", "DUO:9999997"], [HMB])
    with pytest.raises(ValueError, match="DUO:9999997"):
        match([GRU, "DUO:9999998", "DUO:9999997"], [HMB])


def test_every_miabis_use_condition_is_in_duo(duo):
    for name, duo_id in USE_CONDITIONS.items():
        term = duo.term(duo_id)
        assert not term.obsolete, name
        assert term.kind in ("permission", "modifier"), name


# --- matching on the hierarchy -------------------------------------------------------------


@pytest.mark.parametrize("purpose", [GRU, HMB, DS])
def test_gru_dataset_allows_gru_hmb_and_ds(purpose):
    # GRU is HMB's parent and DS's grandparent: any research purpose below it is allowed.
    result = match([GRU], [purpose], purpose_diseases=["C34"])
    assert result.verdict == "match", result.reasons
    assert result.modifiers == []


@pytest.mark.parametrize("purpose", [HMB, DS])
def test_hmb_dataset_allows_hmb_and_ds(purpose):
    assert match([HMB], [purpose], purpose_diseases=["C50"]).verdict == "match"


def test_hmb_dataset_refuses_a_general_research_purpose():
    # GRU is HMB's parent, not a descendant: a general-research purpose asks more than
    # "health/medical/biomedical purposes" allows.
    result = match([HMB], [GRU])
    assert result.verdict == "no_match"
    assert "does not allow DUO:0000042" in result.reasons[0]


def test_hmb_and_gru_datasets_refuse_population_origins_research():
    # POA is a sibling of GRU under "data use permission"; HMB's definition excludes "the study
    # of population origins or ancestry", and DUO does not place POA under GRU either.
    assert match([HMB], [POA]).verdict == "no_match"
    assert match([GRU], [POA]).verdict == "no_match"
    assert match([POA], [POA]).verdict == "match"
    assert match([POA], [HMB]).verdict == "no_match"


def test_ds_dataset_refuses_broader_purposes():
    for purpose in (HMB, GRU):
        assert match([DS], [purpose], dataset_diseases=["C34"]).verdict == "no_match"


def test_no_restriction_allows_every_permission():
    # NRES sits beside GRU in DUO's tree but is defined as "no restriction on use".
    for purpose in (GRU, HMB, DS, POA):
        assert match([NRES], [purpose], purpose_diseases=["C34"]).verdict == "match"


def test_every_purpose_term_must_be_allowed():
    assert match([HMB], [HMB, DS], purpose_diseases=["C34"]).verdict == "match"
    assert match([HMB], [HMB, POA]).verdict == "no_match"


def test_several_dataset_permissions_any_one_suffices():
    assert match([POA, HMB], [DS], purpose_diseases=["C50"]).verdict == "match"


# --- disease-specific research on ICD-10 ---------------------------------------------------


def test_ds_dataset_c34_allows_ds_purpose_c34_1_not_c50():
    result = match([DS], [DS], dataset_diseases=["C34"], purpose_diseases=["C34.1"])
    assert result.verdict == "match"
    assert "C34.1" in result.reasons[0] and "C34" in result.reasons[0]
    result = match([DS], [DS], dataset_diseases=["C34"], purpose_diseases=["C50"])
    assert result.verdict == "no_match"
    assert "C50" in result.reasons[0] and "outside" in result.reasons[0]


def test_ds_every_purpose_disease_must_be_covered():
    both = ["C34.1", "C50.9"]
    assert match([DS], [DS], dataset_diseases=["C34"], purpose_diseases=both).verdict == "no_match"
    covered = ["C34", "C50"]
    assert match([DS], [DS], dataset_diseases=covered, purpose_diseases=both).verdict == "match"


def test_ds_block_and_chapter():
    assert match([DS], [DS], dataset_diseases=["C30-C39"], purpose_diseases=["C34.1"]).verdict == (
        "match"
    )
    assert match([DS], [DS], dataset_diseases=["C30-C39"], purpose_diseases=["C50"]).verdict == (
        "no_match"
    )
    for code in ("C00", "C34.1", "C50-C50", "D48.9", "D00-D09"):
        assert match([DS], [DS], dataset_diseases=["II"], purpose_diseases=[code]).verdict == (
            "match"
        ), code
    for code in ("D50", "E11", "B99"):
        assert match([DS], [DS], dataset_diseases=["II"], purpose_diseases=[code]).verdict == (
            "no_match"
        ), code


def test_ds_narrower_dataset_refuses_a_broader_purpose():
    # A dataset on C34.1 (upper lobe) does not cover a purpose on all of C34 or a whole block.
    for code in ("C34", "C30-C39", "II", "C34.2"):
        assert match([DS], [DS], dataset_diseases=["C34.1"], purpose_diseases=[code]).verdict == (
            "no_match"
        ), code


def test_ds_without_diseases_needs_review():
    assert match([DS], [DS], purpose_diseases=["C34"]).verdict == "needs_review"
    assert match([DS], [DS], dataset_diseases=["C34"]).verdict == "needs_review"


def test_ds_diseases_in_every_form():
    forms = ["C34.1", "ICD10:C34.1", "ICD-10:C34.1", str(ICD10["C34.1"]), ICD10["C34.1"]]
    for form in forms:
        result = match([DS], [DS], dataset_diseases=[ICD10.C34], purpose_diseases=[form])
        assert result.verdict == "match", form
    result = match([DS], [DS], dataset_diseases=["ICD10:C30-C39"], purpose_diseases=["c34.1"])
    assert result.verdict == "match"


def test_icd10_hierarchy():
    assert icd10_contains("C34", "C34.1")
    assert icd10_contains("C34", "C34")
    assert icd10_contains("C34.1", "C34.10")
    assert not icd10_contains("C34.1", "C34")
    assert not icd10_contains("C34.1", "C34.2")
    assert icd10_contains("C30-C39", "C34.1")
    assert icd10_contains("C30-C39", "C30-C39")
    assert not icd10_contains("C30-C39", "C00-C97")
    assert icd10_contains("II", "C00-C97")
    assert icd10_contains("Chapter II", "D48")
    assert icd10_contains("XIX", "T98.3")
    assert not icd10_contains("II", "III")
    assert Icd10.parse("http://purl.bioontology.org/ontology/ICD10/C30-C39").text == "C30-C39"


def test_icd10_chapters_table():
    assert len(ICD10_CHAPTERS) == 22
    assert ICD10_CHAPTERS["II"] == ("C00", "D48")
    for first, last in ICD10_CHAPTERS.values():
        assert first <= last


@pytest.mark.parametrize("bad", ["C3", "lung cancer", "C39-C30", "XXIII", "DUO:0000007"])
def test_bad_icd10_raises_naming_it(bad):
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        Icd10.parse(bad)
    with pytest.raises(ValueError):
        match([DS], [DS], dataset_diseases=["C34"], purpose_diseases=[bad])


# --- modifiers and missing terms -----------------------------------------------------------


def test_modifiers_are_listed_with_labels_and_never_flip_the_verdict():
    modifiers = [IRB, COL, PUB, TS, NPUNCU, NCU]
    result = match([GRU, *modifiers], [HMB])
    assert result.verdict == "match"
    assert [term.id for term in result.modifiers] == modifiers
    assert [term.label for term in result.modifiers] == [
        "ethics approval required",
        "collaboration required",
        "publication required",
        "time limit on use",
        "not for profit, non commercial use only",
        "non-commercial use only",
    ]
    committee = [reason for reason in result.reasons if "shown to the committee" in reason]
    assert len(committee) == len(modifiers)
    assert 'DUO:0000021 "ethics approval required"' in committee[0]
    # ... nor a no_match into a match.
    refused = match([HMB, IRB], [GRU])
    assert refused.verdict == "no_match"
    assert [term.id for term in refused.modifiers] == [IRB]


def test_npoa_modifier_is_shown_not_matched():
    result = match([GRU, "DUO:0000044"], [HMB])
    assert result.verdict == "match"
    assert result.modifiers[0].label == "population origins or ancestry research prohibited"


def test_dataset_without_permission_needs_review():
    result = match([IRB], [HMB])
    assert result.verdict == "needs_review"
    assert result.reasons[0] == "the dataset states no data-use permission"
    assert [term.id for term in result.modifiers] == [IRB]
    assert match([], [HMB]).verdict == "needs_review"


def test_purpose_without_terms_needs_review():
    assert match([GRU], []).verdict == "needs_review"
    result = match([GRU], [IRB])
    assert result.verdict == "needs_review"
    assert "ignored" in result.reasons[-1]


def test_obsolete_dataset_term_is_reported_not_matched():
    result = match(["DUO:0000005"], [HMB])
    assert result.verdict == "needs_review"
    assert any("DUO:0000005" in reason for reason in result.reasons)


def test_iri_terms_accepted_in_match():
    result = match([URIRef(OBO.DUO_0000006)], ["DUO_0000007"], purpose_diseases=["C34"])
    assert result.verdict == "match"


def test_a_catalogue_dataset_is_matched_on_its_diagnoses_and_unknown_terms_go_to_review():
    from hyperontology.duo import match_dataset

    lung = match_dataset(["DUO:0000007"], ["C34.1", "not a code"], ["DUO:0000007"], ["C34.1"])
    assert lung.verdict == "match"
    # Diagnoses restrict only a disease-specific permission.
    general = match_dataset(["DUO:0000042"], ["C50.9"], ["DUO:0000007"], ["C34.1"])
    assert general.verdict == "match"
    unknown = match_dataset(["DUO:0000007", "LOCAL:consent-v2"], [], ["DUO:0000007"], ["C34"])
    assert unknown.verdict == "needs_review" and "LOCAL:consent-v2" in unknown.reasons[0]
