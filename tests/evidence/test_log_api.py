"""The log over HTTP: C2SP tlog-tiles resources, the verifier key and the proof API."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qianshu.core.runtime import Runtime
from qianshu.evidence import checkpoint, merkle, tiles, translog
from tests.evidence.tlog_support import append


@pytest.fixture
def log_client(runtime: Runtime, app: Any) -> Iterator[TestClient]:
    """The app with its real key custody: the log key was made by the first start (bootstrap)."""
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def _checkpoint(client: TestClient) -> checkpoint.Checkpoint:
    key = client.get("/log/key").text.strip()
    return checkpoint.verify_checkpoint(client.get("/log/checkpoint").text, key)


def test_a_fresh_log_serves_its_empty_checkpoint_and_key(log_client: TestClient) -> None:
    resp = log_client.get("/log/checkpoint")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache"
    key = log_client.get("/log/key")
    assert key.headers["content-type"] == "text/plain; charset=utf-8"
    cp = checkpoint.verify_checkpoint(resp.text, key.text.strip())
    assert (cp.origin, cp.size, cp.root_hash) == ("qianshu.local/log", 0, merkle.empty_root())


def test_tiles_are_served_in_the_tlog_tiles_layout(log_client: TestClient, runtime: Runtime) -> None:
    append(runtime, 260)
    translog.sequence_pending(runtime)
    cp = _checkpoint(log_client)
    assert cp.size == 260
    # Mirror the log the way a monitor would: fetch every tile the checkpoint implies, rebuild
    # the tree from the entry bundles and check it against the level-0 tiles and the signed root.
    tree = merkle.MemoryTree()
    for ref in tiles.tiles_for_size(cp.size):
        resp = log_client.get(f"/log/{ref.path}")
        assert resp.status_code == 200, ref.path
        assert resp.headers["content-type"] == "application/octet-stream"
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        if ref.level == 0:
            bundle = log_client.get(f"/log/{tiles.tile_path(None, ref.index, ref.width)}")
            assert bundle.headers["content-encoding"] == "gzip"  # httpx asks for gzip and decodes it
            leaves = [merkle.leaf_hash(e) for e in tiles.decode_entry_bundle(bundle.content)]
            assert b"".join(leaves) == resp.content
            for leaf in leaves:
                tree.append(leaf)
    assert tree.root() == cp.root_hash
    level1 = log_client.get("/log/tile/1/000.p/1")
    assert level1.content == merkle.perfect_root(tiles.split_tile(log_client.get("/log/tile/0/000").content))
    raw = log_client.get("/log/tile/entries/001.p/4", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(tiles.decode_entry_bundle(raw.content)) == 4
    assert gzip.decompress(gzip.compress(raw.content, mtime=0)) == raw.content


@pytest.mark.parametrize(
    "path",
    [
        "/log/tile/0/001",
        "/log/tile/0/001.p/5",
        "/log/tile/1/000",
        "/log/tile/0/x000/000",
        "/log/tile/0/000.p/256",
        "/log/tile/entries/002.p/1",
        "/log/tile/x/000",
        "/log/tile/0/x999/x999/x999/x999/999",
    ],
)
def test_missing_or_malformed_tiles_are_404_problems(
    log_client: TestClient, runtime: Runtime, path: str
) -> None:
    append(runtime, 260)
    translog.sequence_pending(runtime)
    resp = log_client.get(path)
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"


def test_inclusion_proofs_by_index_and_by_leaf_hash(log_client: TestClient, runtime: Runtime) -> None:
    leaves = append(runtime, 11)
    translog.sequence_pending(runtime)
    cp = _checkpoint(log_client)
    queries: list[dict[str, str | int]] = [
        {"index": 7},
        {"leaf_hash": leaves[7].leaf_hash},
        {"leaf_hash": base64.b64encode(bytes.fromhex(leaves[7].leaf_hash)).decode()},
    ]
    for query in queries:
        resp = log_client.get("/api/v1/log/proof/inclusion", params=query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["index"], body["tree_size"], body["leaf_hash"]) == (7, 11, leaves[7].leaf_hash)
        merkle.verify_inclusion(
            7, 11, bytes.fromhex(body["leaf_hash"]), [bytes.fromhex(x) for x in body["hashes"]], cp.root_hash
        )
        assert body["checkpoint"] == log_client.get("/log/checkpoint").text
    older = log_client.get("/api/v1/log/proof/inclusion", params={"index": 2, "tree_size": 5}).json()
    assert older["tree_size"] == 5 and older["checkpoint"] is None  # no checkpoint was published at size 5


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 422),
        ({"index": 1, "leaf_hash": "00" * 32}, 422),
        ({"leaf_hash": "zz"}, 422),
        ({"leaf_hash": "00" * 31}, 422),
        ({"index": -1}, 422),
        ({"index": "one"}, 422),
        ({"index": 0, "tree_size": 4}, 422),
        ({"index": 3}, 404),
        ({"index": 10**30}, 404),
        ({"leaf_hash": "00" * 32}, 404),
    ],
)
def test_bad_inclusion_queries_are_problems(
    log_client: TestClient, runtime: Runtime, query: dict[str, Any], status: int
) -> None:
    append(runtime, 3)
    translog.sequence_pending(runtime)
    resp = log_client.get("/api/v1/log/proof/inclusion", params=query)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"


def test_consistency_proofs_between_checkpoints(log_client: TestClient, runtime: Runtime) -> None:
    append(runtime, 6)
    translog.sequence_pending(runtime)
    old = _checkpoint(log_client)
    append(runtime, 7, start=6)
    translog.sequence_pending(runtime)
    new = _checkpoint(log_client)
    body = log_client.get("/api/v1/log/proof/consistency", params={"first": old.size}).json()
    assert (body["first"], body["second"]) == (6, 13)
    merkle.verify_consistency(6, 13, [bytes.fromhex(x) for x in body["hashes"]], old.root_hash, new.root_hash)
    for query in [{"first": 7, "second": 6}, {"first": 0}, {"first": 1, "second": 14}, {}]:
        resp = log_client.get("/api/v1/log/proof/consistency", params=query)
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
