"""Liveness, readiness, metrics and the dead-letter API."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.storage.errors import StorageUnavailable


@jobs_service.handler("test.ops.broken")
def _broken(*, runtime: Runtime, session: Any, payload: dict[str, Any]) -> None:
    raise RuntimeError("downstream refused")


def test_healthz_answers_without_dependencies(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


@pytest.fixture
def local_client(app: Any) -> Any:
    """A client whose requests come from 127.0.0.1 (an operator's probe on the machine itself)."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver", client=("127.0.0.1", 50123)) as c:
        yield c


def test_readyz_reports_every_check_to_loopback(local_client: Any) -> None:
    r = local_client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert [c["name"] for c in body["checks"]] == ["database", "storage", "broker", "custody"]
    assert all(c["ok"] for c in body["checks"])


def test_readyz_shows_the_public_only_its_status(client: Any, app: Any) -> None:
    from fastapi.testclient import TestClient

    assert client.get("/readyz").json() == {"status": "ready"}  # a remote address
    with TestClient(app, client=("127.0.0.1", 50124)) as proxied:  # a local proxy passing the public on
        r = proxied.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json() == {"status": "ready"}
    r = client.get("/readyz", headers={"Authorization": "Bearer not-a-session"})
    assert r.json() == {"status": "ready"}


def test_readyz_details_for_operators_and_metrics_token(
    client: Any, runtime: Runtime, operator_headers: dict[str, str]
) -> None:
    from pydantic import SecretStr

    r = client.get("/readyz", headers=operator_headers)
    assert [c["name"] for c in r.json()["checks"]] == ["database", "storage", "broker", "custody"]
    runtime.settings.metrics_token = SecretStr("m" * 32)
    r = client.get("/readyz", headers={"Authorization": "Bearer " + "m" * 32})
    assert len(r.json()["checks"]) == 4


def test_readyz_unavailable_shows_no_detail_publicly(client: Any, runtime: Runtime) -> None:
    runtime.set_component("storage.blob_store", _DeadStore())
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable"}


class _DeadStore:
    backend = "s3"

    def exists(self, key: str) -> bool:
        raise StorageUnavailable("对象存储不可用", detail_en="The object store is unreachable")


def test_readyz_is_503_when_storage_fails(local_client: Any, runtime: Runtime) -> None:
    runtime.set_component("storage.blob_store", _DeadStore())
    r = local_client.get("/readyz")
    assert r.status_code == 503
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert checks["storage"]["ok"] is False
    assert "unreachable" in checks["storage"]["detail"]
    assert checks["database"]["ok"] is True


def test_readyz_is_503_when_broker_unreachable(local_client: Any, runtime: Runtime) -> None:
    runtime.settings.jobs_backend = "dramatiq"
    runtime.settings.broker_url = "redis://127.0.0.1:1/0"
    r = local_client.get("/readyz")
    assert r.status_code == 503
    broker = next(c for c in r.json()["checks"] if c["name"] == "broker")
    assert broker["ok"] is False and "QIANSHU_BROKER_URL" in broker["detail"]


def test_metrics_needs_token_or_operator(client: Any, runtime: Runtime, operator_headers: dict[str, str]) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=operator_headers).status_code == 200
    from pydantic import SecretStr

    runtime.settings.metrics_token = SecretStr("scrape-me-please")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"}).status_code == 200


def test_metrics_use_route_templates_and_count_state(
    client: Any, runtime: Runtime, operator_headers: dict[str, str]
) -> None:
    with runtime.transaction() as s:
        jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.ops.broken", payload={})
    client.get("/api/v1/operator/jobs/job_doesnotexist0000000/requeue")  # 405: still timed by template
    client.get("/no/such/page/12345")
    text = client.get("/metrics", headers=operator_headers).text
    assert 'route="/api/v1/operator/jobs/{job_id}/requeue"' in text
    assert "12345" not in text and "job_doesnotexist" not in text
    assert 'route="<unmatched>"' in text
    assert 'qianshu_jobs{status="queued"}' in text
    assert "qianshu_transparency_log_size" in text
    assert "qianshu_signatures " in text
    assert 'qianshu_metrics_source_up{source="jobs"} 1.0' in text
    queued_before = _sample(text, 'qianshu_jobs{status="queued"}')
    assert queued_before >= 1


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} missing")


def test_dead_letters_listed_and_requeued(client: Any, runtime: Runtime, operator_headers: dict[str, str]) -> None:
    runtime.settings.job_max_attempts = 1
    with runtime.transaction() as s:
        job_id = jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.ops.broken", payload={})
    jobs_service.run_pending(runtime)
    assert client.get("/api/v1/operator/jobs").status_code == 401
    dead = client.get("/api/v1/operator/jobs", headers=operator_headers).json()
    row = next(j for j in dead if j["id"] == job_id)
    assert row["status"] == "dead" and "downstream refused" in row["last_error"]
    counts = client.get("/api/v1/operator/jobs/counts", headers=operator_headers).json()["counts"]
    assert counts["dead"] >= 1
    r = client.post(f"/api/v1/operator/jobs/{job_id}/requeue", headers=operator_headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["attempts"] == 0
    again = client.post(f"/api/v1/operator/jobs/{job_id}/requeue", headers=operator_headers)
    assert again.status_code == 409 and again.json()["type"].endswith("job-not-dead")
    missing = client.post("/api/v1/operator/jobs/not-an-id/requeue", headers=operator_headers)
    assert missing.status_code == 404
    bad = client.get("/api/v1/operator/jobs?status=exploded", headers=operator_headers)
    assert bad.status_code == 422


def test_operator_jobs_page(client: Any, runtime: Runtime, operator_headers: dict[str, str]) -> None:
    runtime.settings.job_max_attempts = 1
    with runtime.transaction() as s:
        job_id = jobs_service.enqueue(session=s, clock=runtime.clock, kind="test.ops.broken", payload={})
    jobs_service.run_pending(runtime)
    page = client.get("/operator/jobs", headers={**operator_headers, "Accept": "text/html"})
    assert page.status_code == 200 and f'id="job-{job_id}"' in page.text
    anonymous = client.get("/operator/jobs", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_login(client: Any, path: str) -> None:
    assert client.get(path).status_code == 200
