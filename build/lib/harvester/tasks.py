from celery import shared_task

from . import services


# One task per node run. A redelivered task (worker killed) starts the run again from
# nothing: staging writes no catalogue data, so running twice is harmless.
@shared_task(name="harvester.tasks.harvest_node", acks_late=True)
def harvest_node(job_id: str) -> str:
    return services.run_pull(job_id).status


@shared_task(name="harvester.tasks.queue_due_harvests")
def queue_due_harvests() -> int:
    return len(services.queue_due_harvests())
