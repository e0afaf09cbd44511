"""A contract to completion across two `qianshu serve` processes and a Dramatiq worker.

One deployment on PostgreSQL + Redis + S3 (a moto server): the sender works on app A, both
signers register, verify and sign on app B, the SMS codes are sent by the worker process, and
the completed B-LTA PDF downloaded from either process is the same file and validates (pyHanko,
and poppler's pdfsig when installed). Skipped unless QIANSHU_TEST_DATABASE_URL and
QIANSHU_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, REDIS_URL
from tests.scale.deploy import (
    Deployment,
    Inbox,
    check_signed_pdf,
    contract_pdf,
    free_port,
    moto_server,
    root_der,
    run_contract,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs QIANSHU_TEST_DATABASE_URL and QIANSHU_TEST_REDIS_URL"),
]


@pytest.fixture
def pg_database() -> Iterator[str]:
    assert PG_URL
    admin = create_engine(
        make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)), isolation_level="AUTOCOMMIT"
    )
    name = f"qs_scale_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def s3_bucket() -> Iterator[tuple[str, str]]:
    import boto3

    with moto_server() as endpoint:
        bucket = f"qs-scale-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto's placeholder credentials
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint, bucket


@pytest.fixture
def deployment(tmp_path: Path, pg_database: str, s3_bucket: tuple[str, str]) -> Iterator[Deployment]:
    endpoint, bucket = s3_bucket
    port_a, port_b = free_port(), free_port()
    base_a = f"http://127.0.0.1:{port_a}"
    env = {
        **os.environ,
        "QIANSHU_DATA_DIR": str(tmp_path / "shared-data"),  # the shared volume: secrets only (blobs in S3)
        "QIANSHU_DATABASE_URL": pg_database,
        "QIANSHU_REDIS_URL": str(REDIS_URL),
        "QIANSHU_JOBS_BACKEND": "dramatiq",
        "QIANSHU_BROKER_URL": str(REDIS_URL),
        "QIANSHU_DRAMATIQ_QUEUE": f"qs_scale_{uuid.uuid4().hex[:8]}",
        "QIANSHU_RELAY_INTERVAL_SECONDS": "0.2",
        "QIANSHU_WORKER_IN_PROCESS": "false",
        "QIANSHU_BLOB_BACKEND": "s3",
        "QIANSHU_S3_BUCKET": bucket,
        "QIANSHU_S3_ENDPOINT_URL": endpoint,
        "QIANSHU_S3_REGION": "us-east-1",
        "QIANSHU_S3_ACCESS_KEY_ID": "testing",
        "QIANSHU_S3_SECRET_ACCESS_KEY": "testing",
        "QIANSHU_PUBLIC_BASE_URL": base_a,  # certificates name A's OCSP/CRL URLs; B serves them too
        "QIANSHU_SIGNING_IDENTITY_LEVEL": "two_elements",
        "QIANSHU_OTP_RESEND_SECONDS": "0",
        "QIANSHU_DEMO": "false",
        "QIANSHU_PASSWORD_HASH_MEMORY_KIB": "1024",
        "QIANSHU_PASSWORD_HASH_TIME_COST": "1",
        "QIANSHU_PASSWORD_HASH_PARALLELISM": "1",
    }
    dep = Deployment(env=env, workdir=tmp_path)
    try:
        dep.serve("app-a", port_a)  # first start creates the keys and the CA; the others find them
        dep.start("worker", ["worker", "--threads", "2"])
        dep.serve("app-b", port_b)
        yield dep
    finally:
        dep.stop()


def test_contract_completes_across_two_app_processes(deployment: Deployment, tmp_path: Path) -> None:
    import boto3

    a, b = deployment.urls
    inbox = Inbox(a)  # the SMS sandbox the worker delivers to
    done = run_contract(sender_base=a, signer_base=b, inbox=inbox, phones=("13900139100", "13800138101", "13800138102"))
    from_a, from_b = contract_pdf(a, done), contract_pdf(b, done)
    assert from_a == from_b, deployment.logs()
    check_signed_pdf(from_b, root_der(b), tmp_path)
    # The files went to the object store, encrypted by Qianshu: no PDF in the clear in the bucket.
    env = deployment.env
    s3 = boto3.client(
        "s3",
        endpoint_url=env["QIANSHU_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's placeholder credentials
    )
    objects = s3.list_objects_v2(Bucket=env["QIANSHU_S3_BUCKET"]).get("Contents", [])
    assert len(objects) >= 2
    for obj in objects:
        head = s3.get_object(Bucket=env["QIANSHU_S3_BUCKET"], Key=obj["Key"])["Body"].read(8)
        assert not head.startswith(b"%PDF")
    local = Path(env["QIANSHU_DATA_DIR"]) / "blobs"
    assert not [p for p in local.rglob("*") if p.is_file()]  # nothing written to the local store
