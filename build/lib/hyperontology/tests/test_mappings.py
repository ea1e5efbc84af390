import json

import pytest

from hyperontology.mappings import Mappings


@pytest.fixture(scope="module")
def m():
    return Mappings.default()


@pytest.mark.parametrize(
    "label",
    [
        "CT",
        "Computed Tomography",
        "CT scan",
        "TAC",
        "TC",
        "tomografia computerizzata",
        "Tomografía computarizada",
        "Computertomographie",
        "ct",
    ],
)
def test_computed_tomography_in_several_languages(m, label):
    assert m.modality(label) == "CT"


@pytest.mark.parametrize(
    "label",
    [
        "MRI",
        "Magnetic resonance",
        "RM",
        "RMN",
        "IRM",
        "MRT",
        "risonanza magnetica",
        "Resonancia magnética",
    ],
)
def test_magnetic_resonance_in_several_languages(m, label):
    assert m.modality(label) == "MR"


def test_other_modalities(m):
    assert m.modality("PET") == "PT"
    assert m.modalities("PET/CT") == {"PT", "CT"}
    assert m.modalities("pet-ct") == {"PT", "CT"}
    assert m.modality("mammografia") == m.modality("Mammography") == "MG"
    assert m.modality("ecografía") == m.modality("ultrasound") == m.modality("US") == "US"
    assert m.modality("X-ray") == "DX"
    assert m.modality("segmentation") == "SEG"
    assert m.modality("RTSTRUCT") == "RTSTRUCT"
    assert m.modality("a word nobody maps") is None


@pytest.mark.parametrize("label", ["Thorax", "Chest", "LUNG", "torace", "tórax", "Brust"])
def test_chest_in_several_languages(m, label):
    assert m.body_part(label) == "CHEST"


def test_other_body_parts(m):
    assert m.body_part("liver") == m.body_part("fegato") == "LIVER"
    assert m.body_part("cerebro") == m.body_part("cervello") == m.body_part("Brain") == "BRAIN"
    assert m.body_part("head and neck") == m.body_part("Head & Neck") == "HEADNECK"
    assert m.body_part("mama") == m.body_part("breast") == "BREAST"
    assert m.body_part("whole body") == m.body_part("Ganzkörper") == "WHOLEBODY"
    assert m.body_part("prostate") == "PROSTATE"


def test_sex(m):
    assert m.sex("FEMALE") == m.sex("weiblich") == m.sex("F") == "female"
    assert m.sex("Masculino") == "male"
    assert m.sex("zzz") is None


def test_find_in_text_respects_word_boundaries(m):
    modalities, _ = m.find_in_text("An ACT of the doctor; the factor is exact")
    assert modalities == set()
    modalities, _ = m.find_in_text("Abdominal CT, contrast-enhanced")
    assert modalities == {"CT"}


def test_find_in_text_multi_word_and_combined_labels(m):
    assert m.find_in_text("Staging by computed tomography of the chest") == ({"CT"}, {"CHEST"})
    assert m.find_in_text("FDG PET/CT, whole-body") == ({"PT", "CT"}, {"WHOLEBODY"})
    assert m.find_in_text("Risonanza magnetica della prostata") == ({"MR"}, {"PROSTATE"})


def test_short_codes_in_lower_case_are_ordinary_words(m):
    assert m.find_in_text("let us talk to mr smith about the tac") == (set(), set())


def test_extension_from_a_dict_adds_and_overrides_without_changing_the_default(m):
    extended = m.with_extension(
        {"modality": {"TACmultistrato": "CT", "TC": "MR"}, "body_part": {"Leberlappen": "LIVER"}}
    )
    assert extended.modality("TACmultistrato") == "CT"
    assert extended.modality("TC") == "MR"
    assert extended.body_part("leberlappen") == "LIVER"
    assert extended.find_in_text("Studio TACmultistrato") == ({"CT"}, set())
    assert m.modality("TACmultistrato") is None
    assert m.modality("TC") == "CT"
    assert Mappings.default() is m


def test_extension_from_a_json_file(m, tmp_path):
    path = tmp_path / "node.json"
    path.write_text(json.dumps({"modality": {"Angio-TC": "CT"}, "sex": {"X": "other"}}))
    extended = m.from_file(path)
    assert extended.modality("angio tc") == "CT"
    assert extended.sex("x") == "other"


def test_extension_from_a_csv_file(m, tmp_path):
    path = tmp_path / "node.csv"
    path.write_text("kind,label,code\nbody_part,Oberbauch,ABDOMEN\n")
    assert m.from_file(path).body_part("Oberbauch") == "ABDOMEN"


def test_bad_extension_is_refused(m):
    with pytest.raises(ValueError, match="unknown kind 'organ'"):
        m.with_extension({"organ": {"x": "y"}})
    with pytest.raises(ValueError, match="must be text"):
        m.with_extension({"modality": {"x": 3}})
