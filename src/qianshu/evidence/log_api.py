"""Public, read-only HTTP surface of the transparency log.

`/log/…` follows C2SP tlog-tiles, so standard tools can mirror and monitor the log:
`/log/checkpoint` (signed note, text/plain, not cached), `/log/tile/<L>/<N>[.p/<W>]` and
`/log/tile/entries/<N>[.p/<W>]` (application/octet-stream, immutable), plus `/log/key` (the
verifier key). `/api/v1/log/proof/…` serves RFC 9162 inclusion and consistency proofs as JSON.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from qianshu.core.deps import DbSession, RuntimeDep
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.openapi import file_response
from qianshu.evidence import merkle, tiles, translog

router = APIRouter(tags=["transparency log"])

TEXT_PLAIN = "text/plain; charset=utf-8"
OCTET_STREAM = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"  # tlog-tiles: tiles SHOULD be cached long


@router.get(
    "/log/checkpoint",
    response_class=Response,
    responses=file_response("text/plain", "The checkpoint (signed note)"),
    summary="Newest signed checkpoint (C2SP tlog-checkpoint)",
)
def get_checkpoint(session: DbSession, runtime: RuntimeDep) -> Response:
    """Serve the newest checkpoint; a fresh log signs its first one on the way."""
    try:
        note = translog.latest_checkpoint(session=session)
    except translog.LogNotReady:
        translog.ensure_log(runtime=runtime)
        session.rollback()  # drop any snapshot taken before the checkpoint was committed
        note = translog.latest_checkpoint(session=session)
    return Response(note, media_type=TEXT_PLAIN, headers={"Cache-Control": "no-cache"})


@router.get(
    "/log/key",
    response_class=Response,
    responses=file_response("text/plain", "The verifier key"),
    summary="The log's verifier key (signed-note encoding)",
)
def get_key(runtime: RuntimeDep) -> Response:
    """Serve the verifier key `<origin>+<key id>+<base64 key>` that checks the checkpoints."""
    return Response(
        translog.verifier_key(runtime) + "\n",
        media_type=TEXT_PLAIN,
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/log/tile/{tile_path:path}",
    response_class=Response,
    responses=file_response("application/octet-stream", "The tile or entry bundle"),
    summary="Hash tile or entry bundle",
)
def get_tile(tile_path: str, request: Request, session: DbSession) -> Response:
    """Serve a tile at its canonical C2SP tlog-tiles path; anything else is 404."""
    ref = tiles.parse_tile_path("tile/" + tile_path)
    if ref is None:
        raise NotFound("瓦片路径无效", detail_en="Not a tile path")
    data = translog.read_tile(session=session, ref=ref)
    headers = {"Cache-Control": IMMUTABLE}
    if ref.is_entries:  # tlog-tiles §Log entries: bundles SHOULD be compressed at the HTTP layer
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            data = gzip.compress(data, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=OCTET_STREAM, headers=headers)


def _parse_hash(value: str) -> bytes:
    text = value.strip().replace(" ", "+")  # an unescaped '+' in a query string arrives as a space
    try:
        if len(text) == 2 * merkle.HASH_SIZE:
            raw = bytes.fromhex(text)
        else:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise InvalidInput(
            "leaf_hash 必须是 64 位十六进制或 base64 编码的 SHA-256 值",
            detail_en="leaf_hash must be a SHA-256 hash in hex (64 digits) or base64",
        )
    return raw


@router.get("/api/v1/log/proof/inclusion", summary="Inclusion proof (RFC 9162 §2.1.3)")
def get_inclusion_proof(
    session: DbSession,
    leaf_hash: Annotated[str | None, Query(max_length=100, description="RFC 6962 leaf hash, hex or base64")] = None,
    index: Annotated[int | None, Query(ge=0, description="Leaf index")] = None,
    tree_size: Annotated[int | None, Query(ge=1, description="Tree size (default: newest checkpoint)")] = None,
) -> dict[str, Any]:
    """Prove an entry's inclusion, by leaf hash or index, in the tree of `tree_size` leaves."""
    proof = translog.inclusion_proof(
        session=session,
        index=index,
        leaf_hash=None if leaf_hash is None else _parse_hash(leaf_hash),
        tree_size=tree_size,
    )
    return dataclasses.asdict(proof)


@router.get("/api/v1/log/proof/consistency", summary="Consistency proof (RFC 9162 §2.1.4)")
def get_consistency_proof(
    session: DbSession,
    first: Annotated[int, Query(ge=1, description="Size of the older tree")],
    second: Annotated[int | None, Query(ge=1, description="Size of the newer tree (default: newest)")] = None,
) -> dict[str, Any]:
    """Prove that the tree of `second` leaves extends the tree of `first` leaves."""
    return dataclasses.asdict(translog.consistency_proof(session=session, first=first, second=second))
