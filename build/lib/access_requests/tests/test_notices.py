"""Who hears of each step, in the hub and by e-mail; reminders for waiting requests."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from access_requests import notices, services
from access_requests.models import Notice
from access_requests.tests.workflow import part_of, reject_all, submitted


def texts(user):
    return [n.text for n in Notice.objects.filter(user=user)]


def test_each_step_tells_the_right_people(
    setup, people, org_a, org_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        request = submitted(setup, people)
    assert queued  # the e-mails go out through the worker, after the commit
    assert any("please review" in t for t in texts(people["a2"]))
    assert any("please review" in t for t in texts(people["b1"]))
    assert not texts(people["researcher"])
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=reject_all(b))
    assert any("0 of 1 dataset approved" in t for t in texts(people["researcher"]))
    a = part_of(request, org_a)
    services.return_part(part=a, by=people["a2"], note="Add the ethics reference.")
    assert any("returned request" in t and "ethics" in t for t in texts(people["researcher"]))
    assert not any("returned" in t for t in texts(people["b1"]))


def test_notices_are_emailed_once(setup, people):
    people["a2"].email = "a2@hospital-a.example"
    people["a2"].save()
    people["a3"].email = ""  # no address: the notice stays in the hub only
    people["a3"].save()
    submitted(setup, people)
    ids = list(Notice.objects.values_list("pk", flat=True))
    sent = notices.send_emails(ids)
    assert sent == len(ids) - 1
    assert notices.send_emails(ids) == 0  # a retried task sends nothing twice
    assert "a2@hospital-a.example" in {to for m in mail.outbox for to in m.to}
    assert all("please review" in m.body for m in mail.outbox)


def test_waiting_parts_are_reminded_once_per_period(setup, people, settings):
    settings.ACCESS_REQUEST_REMINDER_DAYS = 7
    request = submitted(setup, people)
    assert notices.remind_waiting() == 0
    later = timezone.now() + timedelta(days=8)
    assert notices.remind_waiting(now=later) == 2  # both parts
    assert notices.remind_waiting(now=later + timedelta(days=1)) == 0
    assert notices.remind_waiting(now=later + timedelta(days=8)) == 2
    assert any(t.startswith("Reminder: request") for t in texts(people["b1"]))
    assert request.pk


@pytest.mark.parametrize("unread", ["", "?unread=1"])
def test_people_read_only_their_notices(api, setup, people, unread):
    submitted(setup, people)
    listed = api.as_(people["b1"]).get(f"/api/v1/notices/{unread}").json()
    assert listed["count"] == 1
    notice = listed["results"][0]["id"]
    assert api.as_(people["a2"]).post(f"/api/v1/notices/{notice}/read/").status_code == 404
    read = api.as_(people["b1"]).post(f"/api/v1/notices/{notice}/read/")
    assert read.status_code == 200 and read.json()["read_at"]
    assert api.get("/api/v1/notices/?unread=1").json()["count"] == 0
