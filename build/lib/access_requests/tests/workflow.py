"""Building blocks of the access-request tests: a submitted request, decisions."""

from datetime import timedelta

from django.utils import timezone

from access_requests import services
from access_requests.models import AccessRequest

NEXT_YEAR = timezone.localdate() + timedelta(days=365)


def submitted(setup, people) -> AccessRequest:
    project, datasets = setup
    request = services.create_request(by=people["researcher"], project=project, datasets=datasets)
    services.edit_request(
        request=request,
        by=people["researcher"],
        purpose="Train and validate a lung nodule detector.",
        purpose_duo=["DUO:0000007"],
        terms_accepted=[d.pk for d in datasets],
    )
    return services.submit_request(request=request, by=people["researcher"])


def part_of(request, organisation):
    return request.parts.get(organisation=organisation)


def approve_all(part, **extra):
    return {
        str(i.dataset_id): {"approve": True, "end_date": NEXT_YEAR, "conditions": "No export."}
        | extra
        for i in part.items.all()
    }


def reject_all(part):
    return {
        str(i.dataset_id): {"approve": False, "reason": "Consent does not cover AI training."}
        for i in part.items.all()
    }
