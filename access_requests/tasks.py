from celery import shared_task

from . import services


@shared_task(name="access_requests.tasks.expire_entitlements")
def expire_entitlements() -> int:
    return services.expire_entitlements()
