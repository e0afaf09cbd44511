"""PKI over HTTP: certificate and CRL downloads, OCSP (RFC 6960), the TSA (RFC 3161), certificate API."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from qianshu.core.auth import CurrentUser
from qianshu.core.deps import ClockDep, ContextDep, DbSession
from qianshu.core.errors import NotFound
from qianshu.pki import crl as crl_module
from qianshu.pki import records, tsa
from qianshu.pki import service as pki_service
from qianshu.pki.errors import CertificateNotFound
from qianshu.pki.ocsp import MAX_REQUEST_BYTES as OCSP_MAX
from qianshu.pki.schemas import CertificateOut, RevokeIn

router = APIRouter(tags=["pki"])

PKIX_CERT = "application/pkix-cert"  # RFC 2585 §4.1
PKIX_CRL = "application/pkix-crl"  # RFC 2585 §4.2
PEM = "application/x-pem-file"
OCSP_RESPONSE = "application/ocsp-response"  # RFC 6960 Appendix C.2
TIMESTAMP_REPLY = "application/timestamp-reply"  # RFC 3161 §3.4
_CERT_FILES = {"root": "root", "issuing": "issuing", "tsa": "tsa", "ocsp": "ocsp"}
_CACHE_CERT = "public, max-age=86400"


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _http_date(at: datetime) -> str:
    return at.strftime("%a, %d %b %Y %H:%M:%S GMT")


# --- OCSP (RFC 6960 Appendix A) -------------------------------------------------------------


def _ocsp_reply(der: bytes) -> Response:
    return Response(der, media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-cache"})


@router.get("/pki/ocsp/{encoded:path}", include_in_schema=False)
def ocsp_get(encoded: str, session: DbSession, clock: ClockDep) -> Response:
    """Answer an OCSP request sent by GET: base64 DER, URL-encoded (RFC 6960 A.1)."""
    text = unquote(encoded).strip()
    try:
        request_der = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None
        )
    except (binascii.Error, ValueError):
        request_der = b""
    return _ocsp_reply(pki_service.ocsp_response(session=session, clock=clock, request_der=request_der))


@router.post("/pki/ocsp", include_in_schema=False)
def ocsp_post(body: RawBody, session: DbSession, clock: ClockDep) -> Response:
    """Answer an OCSP request sent by POST as application/ocsp-request (RFC 6960 A.1)."""
    request_der = body if len(body) <= OCSP_MAX else b""
    return _ocsp_reply(pki_service.ocsp_response(session=session, clock=clock, request_der=request_der))


# --- TSA (RFC 3161 §3.4) --------------------------------------------------------------------


@router.post("/tsa", include_in_schema=False)
def tsa_post(body: RawBody, session: DbSession, clock: ClockDep) -> Response:
    """Answer an application/timestamp-query with an application/timestamp-reply."""
    reply = tsa.respond(session=session, clock=clock, request_der=body)
    status = 503 if reply.failure == "system_failure" else 200
    return Response(
        reply.der, status_code=status, media_type=TIMESTAMP_REPLY, headers={"Cache-Control": "no-store"}
    )


# --- certificates and CRLs for download -----------------------------------------------------


@router.get("/pki/{filename}", include_in_schema=False)
def pki_file(filename: str, session: DbSession, clock: ClockDep) -> Response:
    """Serve root/issuing/tsa/ocsp certificates (.pem, .crt DER), chain.pem and the CRLs (.crl, DER)."""
    stem, _, ext = filename.partition(".")
    if ext == "crl" and stem in ("root", "issuing"):
        crl = crl_module.current_crl(session=session, clock=clock, which=stem)
        headers = {"Cache-Control": "public, max-age=300", "Expires": _http_date(crl.next_update)}
        return Response(crl.der, media_type=PKIX_CRL, headers=headers)
    if filename == "chain.pem":
        text = "".join(pki_service.pem(der) for der in pki_service.ca_chain(session=session))
        return Response(text, media_type=PEM, headers={"Cache-Control": _CACHE_CERT})
    kind = _CERT_FILES.get(stem)
    if kind is None or ext not in ("pem", "crt", "cer", "der"):
        raise NotFound("没有这个文件", detail_en="No such PKI file")
    der = records.require_ca(session, kind).der
    if ext == "pem":
        return Response(pki_service.pem(der), media_type=PEM, headers={"Cache-Control": _CACHE_CERT})
    headers = {
        "Cache-Control": _CACHE_CERT,
        "Content-Disposition": f'attachment; filename="qianshu-{stem}.crt"',
    }
    return Response(der, media_type=PKIX_CERT, headers=headers)


# --- the certificate API --------------------------------------------------------------------


def _visible(cert: pki_service.CertificateRead | None, user: CurrentUser) -> pki_service.CertificateRead:
    if cert is None or not (user.is_operator or cert.subject_id == user.user_id):
        raise CertificateNotFound()
    return cert


@router.get("/api/v1/certificates/current", response_model=CertificateOut)
def current_certificate(session: DbSession, user: CurrentUser) -> CertificateOut:
    """Return the signed-in user's current certificate."""
    cert = pki_service.current_certificate_for(session=session, subject_id=user.user_id)
    if cert is None:
        raise CertificateNotFound("您还没有证书", detail_en="You have no certificate yet")
    return CertificateOut.of(cert)


@router.get("/api/v1/certificates/{cert_id}", response_model=CertificateOut)
def get_certificate(cert_id: str, session: DbSession, user: CurrentUser) -> CertificateOut:
    """Return one certificate to its holder or an operator."""
    cert = _visible(pki_service.get_certificate(session=session, cert_id=cert_id), user)
    return CertificateOut.of(cert)


@router.post("/api/v1/certificates/{cert_id}/revoke", response_model=CertificateOut)
def revoke_certificate(
    cert_id: str, body: RevokeIn, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> CertificateOut:
    """Revoke a certificate (holder or operator); the CRL and OCSP reflect it at once."""
    _visible(pki_service.get_certificate(session=session, cert_id=cert_id), user)
    cert = pki_service.revoke_certificate(
        session=session,
        clock=clock,
        cert_id=cert_id,
        actor=user.user_id,
        reason=body.reason,
        operator=user.is_operator,
        context=context,
    )
    return CertificateOut.of(cert)


@router.post("/api/v1/certificates/{cert_id}/renew", response_model=CertificateOut)
def renew_certificate(
    cert_id: str, session: DbSession, clock: ClockDep, user: CurrentUser, context: ContextDep
) -> CertificateOut:
    """Renew a certificate (holder or operator): new key, new certificate, the old one superseded."""
    _visible(pki_service.get_certificate(session=session, cert_id=cert_id), user)
    cert = pki_service.renew_certificate(
        session=session,
        clock=clock,
        cert_id=cert_id,
        actor=user.user_id,
        operator=user.is_operator,
        context=context,
    )
    return CertificateOut.of(cert)
