"""Batch files over the synchronous limit reach the import job through the "uploads"
storage, as between a web host and a worker host that share no disk.

The storage is django-storages' S3 backend talking HTTP to an S3 API on localhost
(moto's server; MinIO in docker-compose.yml), and the web and worker "hosts" have
different local upload directories.
"""

from __future__ import annotations

import boto3
import pytest
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer

from marketplace import services
from marketplace.models import Task
from tests.marketplace.conftest import csv_bytes, make_project, upload
from tests.ops.helpers import free_port

BUCKET = "fairtask-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_uploads(settings, s3_endpoint, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    options = {
        "bucket_name": BUCKET,
        "endpoint_url": s3_endpoint,
        "access_key": "test-access",
        "secret_key": "test-secret",
        "region_name": "us-east-1",
        "addressing_style": "path",
        "default_acl": None,
        "file_overwrite": False,
        "location": "uploads",
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_web_hands_a_large_upload_to_a_worker_on_another_host(
    s3_uploads, settings, tmp_path, requester, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 100
    web_disk, worker_disk = tmp_path / "web", tmp_path / "worker"

    settings.FAIRTASK_UPLOAD_DIR = web_disk  # the web host
    project = make_project(requester)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    assert batch.status == "importing"
    assert _keys(s3_uploads) == [f"uploads/{batch.upload_path}"]
    assert not any(web_disk.iterdir())  # nothing left on the web host's disk
    assert storages["uploads"].size(batch.upload_path) == batch.upload_size

    settings.FAIRTASK_UPLOAD_DIR = worker_disk  # the worker host: never saw the file
    with django_capture_on_commit_callbacks(execute=True):
        imported = services.batch_import(batch_id=batch.pk)
    assert imported.status == "draft", imported.import_errors
    assert imported.task_count == 300 and Task.objects.filter(batch=batch).count() == 300
    assert _keys(s3_uploads) == []  # removed once imported
    assert not any(worker_disk.iterdir())  # the local copy too


def test_a_refused_large_upload_leaves_nothing_in_the_bucket(
    s3_uploads, settings, tmp_path, requester, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 100
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "web"
    project = make_project(requester)
    from marketplace.uploads import UploadInvalid

    with pytest.raises(UploadInvalid):
        upload(project, requester, b"wrong,header\n" + b"x,y\n" * 100)
    assert _keys(s3_uploads) == []


def test_missing_object_fails_the_batch_cleanly(
    s3_uploads, settings, tmp_path, requester, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("marketplace.jobs.import_batch.delay", lambda batch_id: None)
    settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES = 100
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "web"
    project = make_project(requester)
    with django_capture_on_commit_callbacks(execute=True):
        batch = upload(project, requester, csv_bytes(300))
    s3_uploads.delete_object(Bucket=BUCKET, Key=f"uploads/{batch.upload_path}")
    failed = services.batch_import(batch_id=batch.pk)
    assert failed.status == "failed"
    assert "no longer available" in failed.import_errors[0]["message"]
