from celery import shared_task

from . import services
from .chain import ChainUnavailable


@shared_task(
    autoretry_for=(ChainUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
    acks_late=True,
)
def anchor_pending_traces() -> str:
    """Anchor what is pending; while the chain is down, retry with backoff (and the
    periodic schedule keeps trying after the retries run out). Idempotent."""
    return str(services.anchor_pending())
