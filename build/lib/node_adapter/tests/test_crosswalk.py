"""The crosswalk keeps identities at the site and flags discrepancies once, for review."""

from __future__ import annotations

import stat

import pytest

from node_adapter.crosswalk import (
    SAME_DEMOGRAPHICS_OTHER_ID,
    SAME_ID_OTHER_DEMOGRAPHICS,
    Crosswalk,
)
from node_adapter.deid import OriginalIdentity, pseudonym

SECRET = b"site-a-secret-0123456789"


def identity(patient_id="P1", issuer="HOSP-A", name="DOE^JANE", birth_date="19700304", sex="F"):
    return OriginalIdentity(
        patient_id=patient_id, issuer=issuer, name=name, birth_date=birth_date, sex=sex
    )


def subject_of(original: OriginalIdentity) -> str:
    return pseudonym(SECRET, original.issuer, original.patient_id)


@pytest.fixture
def crosswalk(tmp_path):
    walk = Crosswalk(tmp_path / ".agora" / "crosswalk.sqlite3")
    yield walk
    walk.close()


def record(crosswalk: Crosswalk, original: OriginalIdentity):
    return crosswalk.record(original, subject_of(original))


def test_file_is_private_to_the_site_user(crosswalk):
    assert stat.S_IMODE(crosswalk.path.stat().st_mode) == 0o600


def test_same_identity_twice_raises_no_flag(crosswalk):
    assert record(crosswalk, identity()) == []
    assert record(crosswalk, identity()) == []
    assert record(crosswalk, identity(name="doe^jane^^")) == []  # case and padding ignored
    assert crosswalk.flags() == []
    assert crosswalk.identity(subject_of(identity())) == identity()
    assert crosswalk.identity("sub-0000000000000000") is None


def test_same_id_with_other_demographics_is_flagged_once(crosswalk):
    record(crosswalk, identity())
    flags = record(crosswalk, identity(birth_date="19700403"))
    assert [flag.kind for flag in flags] == [SAME_ID_OTHER_DEMOGRAPHICS]
    assert flags[0].subject == subject_of(identity())
    assert "birth date" in flags[0].detail and "19700403" not in flags[0].detail
    assert record(crosswalk, identity(birth_date="19700403")) == []
    assert record(crosswalk, identity()) == []
    assert len(crosswalk.flags()) == 1


def test_missing_values_are_not_a_discrepancy(crosswalk):
    record(crosswalk, identity())
    assert record(crosswalk, identity(birth_date="", sex="")) == []


def test_same_demographics_under_another_id_is_flagged_once(crosswalk):
    first = identity()
    second = identity(patient_id="X-77", issuer="HOSP-B")
    record(crosswalk, first)
    flags = record(crosswalk, second)
    assert [flag.kind for flag in flags] == [SAME_DEMOGRAPHICS_OTHER_ID]
    assert {flags[0].subject, flags[0].other_subject} == {subject_of(first), subject_of(second)}
    assert record(crosswalk, second) == []
    assert record(crosswalk, first) == []  # the same pair, seen from the other side
    assert len(crosswalk.flags()) == 1


def test_without_a_birth_date_demographics_do_not_match(crosswalk):
    record(crosswalk, identity(birth_date=""))
    assert record(crosswalk, identity(patient_id="P2", birth_date="")) == []


def test_resolved_flags_leave_the_open_list_and_are_not_raised_again(crosswalk):
    record(crosswalk, identity())
    flag = record(crosswalk, identity(sex="M"))[0]
    resolved = crosswalk.resolve(flag.id, note="typo at registration, same person")
    assert resolved.resolved and resolved.note.startswith("typo")
    assert crosswalk.flags() == []
    assert crosswalk.flags(open_only=False) == [resolved]
    assert record(crosswalk, identity(sex="M")) == []
    with pytest.raises(KeyError):
        crosswalk.resolve(9999, note="none")


def test_flags_survive_reopening(tmp_path):
    path = tmp_path / "crosswalk.sqlite3"
    first = Crosswalk(path)
    record(first, identity())
    record(first, identity(name="DOE^JOAN"))
    first.close()
    again = Crosswalk(path)
    assert [flag.kind for flag in again.flags()] == [SAME_ID_OTHER_DEMOGRAPHICS]
    assert record(again, identity(name="DOE^JOAN")) == []
    again.close()


def test_a_new_process_sees_what_an_earlier_one_recorded(tmp_path):
    path = tmp_path / "crosswalk.sqlite3"
    first = Crosswalk(path)
    record(first, identity())
    first.close()
    second = Crosswalk(path)
    assert [flag.kind for flag in record(second, identity(sex="M"))] == [SAME_ID_OTHER_DEMOGRAPHICS]
    second.close()
