"""The offline evidence verifier: `verify_bundle(bundle, root=…, log_key=…)`.

Imports neither the web framework nor the database (STYLE rule 12), so it runs anywhere the
`qianshu` package is installed, long after the platform itself is gone (PROMISES E4).
"""

from __future__ import annotations

from qianshu.core.errors import VerificationFailed
from qianshu.evidence.verifier.format import STEPS, Step
from qianshu.evidence.verifier.verify import BundleReport, StepResult, verify_bundle

__all__ = ["STEPS", "BundleReport", "Step", "StepResult", "VerificationFailed", "verify_bundle"]
