"""Notices leave by e-mail from a real Celery worker, through Redis, after the commit."""

import pytest

from access_requests.models import Notice
from conftest import WORKER_MAIL, wait_until

from .workflow import submitted

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_committees_are_emailed_by_the_worker(celery_worker, setup, people):
    request = submitted(setup, people)
    to_committees = Notice.objects.filter(request=request)
    assert to_committees.count() == 4  # a1, a2, a3 and b1

    def sent():
        return to_committees.filter(emailed_at__isnull=True).count() == 0

    wait_until(sent, timeout=60)
    mail = "".join(p.read_text() for p in WORKER_MAIL.glob("*.log"))
    for member in ("a1", "a2", "a3", "b1"):
        assert f"To: {member}@example.org" in mail
    assert mail.count("please review it") == 4
    assert f"Request {request.pk} of project LUNG-AI" in mail
