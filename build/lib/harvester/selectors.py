"""Every read of the harvester, already filtered for the caller.

Hub administrators see every node; providers see their organisations' nodes and runs.
Nobody else sees any: a node's runs describe a provider's records before they are public.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from hub.errors import NotFound
from hub.models import hash_token
from hub.roles import is_hub_admin, provider_organisation_ids

from .models import HarvestJob, HarvestRecord, Node


def _node_filter(user, prefix: str = "") -> Q | None:
    """None: no restriction (administrator)."""
    if is_hub_admin(user):
        return None
    if not user or not user.is_authenticated:
        return Q(pk__in=[])
    return Q(**{f"{prefix}organisation_id__in": provider_organisation_ids(user)})


def visible_nodes(user) -> QuerySet[Node]:
    nodes = Node.objects.select_related("organisation")
    where = _node_filter(user)
    return nodes if where is None else nodes.filter(where)


def get_node(user, pk) -> Node:
    """404 both for a missing node and for one the user may not see."""
    try:
        return visible_nodes(user).get(pk=pk)
    except (Node.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFound(f"No node {pk}.") from exc


def visible_jobs(user) -> QuerySet[HarvestJob]:
    jobs = HarvestJob.objects.select_related("node", "node__organisation")
    where = _node_filter(user, "node__")
    return jobs if where is None else jobs.filter(where)


def get_job(user, pk) -> HarvestJob:
    try:
        return visible_jobs(user).get(pk=pk)
    except (HarvestJob.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFound(f"No harvest job {pk}.") from exc


# What a provider must act on first.
RESULT_ORDER = ("rejected", "withdrawn", "added", "updated", "unchanged")


def job_records(job: HarvestJob, result: str = "") -> QuerySet[HarvestRecord]:
    """A run's records, rejected ones first, then in the order the run saw them."""
    records = job.records.all()
    if result:
        return records.filter(result=result)
    rank = Case(
        *[When(result=name, then=Value(i)) for i, name in enumerate(RESULT_ORDER)],
        output_field=IntegerField(),
    )
    return records.order_by(rank, "id")


def jobs_of_node(node: Node, limit: int = 50) -> list[HarvestJob]:
    return list(node.jobs.all()[:limit])


def node_by_push_token(raw: str) -> Node | None:
    return (
        Node.objects.select_related("organisation")
        .filter(push_token_hash=hash_token(raw), enabled=True)
        .first()
    )
