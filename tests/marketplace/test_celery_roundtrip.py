import pytest

from marketplace.jobs import heartbeat
from marketplace.models import WorkerHeartbeat


@pytest.mark.celery_worker
def test_job_round_trip_through_a_real_worker(celery_worker):
    hostname = f"roundtrip-{celery_worker.queue}"
    heartbeat.delay(hostname)
    celery_worker.wait_for(lambda: WorkerHeartbeat.objects.filter(hostname=hostname).exists())
    # The job ran in the worker process, not in this one: its log names the job.
    celery_worker.wait_for(lambda: "marketplace.jobs.heartbeat" in celery_worker.log())
