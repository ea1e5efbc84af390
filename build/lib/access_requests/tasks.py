from celery import shared_task

from . import notices, services


@shared_task(name="access_requests.tasks.expire_entitlements")
def expire_entitlements() -> int:
    return services.expire_entitlements()


@shared_task(name="access_requests.tasks.email_notices")
def email_notices(notice_ids: list[int]) -> int:
    return notices.send_emails(notice_ids)


@shared_task(name="access_requests.tasks.remind_waiting_requests")
def remind_waiting_requests() -> int:
    return notices.remind_waiting()
