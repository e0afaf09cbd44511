"""Step (7): validate every signed PDF of the bundle with pyHanko against the given root.

Per signature, in the order of ETSI EN 319 102-1 §5 (see `signing.validation`): integrity of the
signed byte range, the signature value, the signature time-stamp, the path to the root as of that
time, revocation data in the document, changes after signing, and document time-stamps.
"""

from __future__ import annotations

from collections.abc import Callable

from asn1crypto import x509 as asn1_x509

from qianshu.core.errors import QianshuError, VerificationFailed
from qianshu.evidence.verifier.archive import Bundle
from qianshu.evidence.verifier.format import STEPS
from qianshu.signing import validation
from qianshu.signing.schemas import ValidationReport

__all__ = ["check_pdfs"]

_STEP = str(STEPS[6])


def check_pdfs(
    bundle: Bundle, root: asn1_x509.Certificate, guard: Callable[[bytes], None] | None = None
) -> dict[str, ValidationReport]:
    """Validate each listed signed PDF; every signature and document time-stamp must pass (step 7).

    `guard(pdf)` may refuse a PDF before it is parsed here (a server sandboxes untrusted files).
    """
    reports = {}
    for path in bundle.manifest.signed_pdfs:
        try:
            if guard is not None:
                guard(bundle.read(path))
            report = validation.validate(bundle.read(path), trust_roots=[root.dump()])
        except QianshuError as exc:
            raise VerificationFailed(step=_STEP, reason=f"{path}: {exc.detail_en}") from exc
        if not report.signatures:
            raise VerificationFailed(step=_STEP, reason=f"{path} carries no signature")
        for sig in report.signatures:
            if not sig.ok:
                problems = "; ".join(p.split(" / ")[-1] for p in sig.problems) or "not valid"
                raise VerificationFailed(step=_STEP, reason=f"{path}: signature {sig.field_name}: {problems}")
        for ts in report.document_timestamps:
            if not ts.ok:
                raise VerificationFailed(step=_STEP, reason=f"{path}: document time-stamp {ts.field_name} is not valid")
        reports[path] = report
    return reports
