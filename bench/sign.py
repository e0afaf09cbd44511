"""Benchmark PAdES signing: raw pyHanko with an in-memory key versus Qianshu's signing service.

    python bench/sign.py                 # 1-page and 100-page PDFs, 40 signatures each
    python bench/sign.py --rounds 100
    python bench/sign.py --custody pkcs11  # keys in a fresh SoftHSM2 token (the scale-out configuration)

(a) raw pyHanko "default": `PdfSigner.sign_pdf` with a `SimpleSigner` (key in memory), a visible
    field with pyHanko's default stamp, the same in-process TSA, and no `bytes_reserved`, so
    pyHanko first builds a dry-run CMS (and asks the TSA for a dummy token) to size /Contents.
    A fresh TimeStamper per signature, as a per-request service would hold.
(b) `signing_service.sign_pdf`: certificate check against the CA database, key in file custody,
    a CJK text stamp, the same TSA, a fixed reservation (one CMS build, one TSA request).

Also signs a 50 MB PDF once in a child process and records its peak resident set (ru_maxrss).
Writes `bench/results/sign.json` (file custody) or `bench/results/sign-pkcs11.json` (`--custody
pkcs11`: every custody key, the CA's and the signer's, lives in a SoftHSM2 token made for the
run in a temporary folder, used through PKCS#11 as in a deployment with an HSM).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from qianshu.signing.schemas import Rect, TextAppearance

RESULTS = Path(__file__).parent / "results"
BOX = (60, 60, 260, 130)
MiB = 1024 * 1024


def contract_pdf(pages: int) -> bytes:
    """Return a text PDF of `pages` A4 pages."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    for number in range(1, pages + 1):
        canvas.setFont("Helvetica", 11)
        for line in range(40):
            canvas.drawString(60, 780 - 18 * line, f"Page {number}, clause {line + 1}: the parties agree.")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def big_pdf(size: int) -> bytes:
    """Return a PDF of about `size` bytes: one page per incompressible 1 MiB grayscale image.

    Written by hand (ISO 32000-1 §7.5: header, objects, cross-reference table, trailer) so the
    generator itself holds one copy of the file at most.
    """
    side = 1024
    count = max(1, (size - 256 * 1024) // (side * side))  # leave room for the structure
    out = io.BytesIO()
    offsets: list[int] = []

    def obj(body: bytes, stream: bytes | None = None) -> int:
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % len(offsets) + body)
        if stream is not None:
            out.write(b"\nstream\n" + stream + b"\nendstream")
        out.write(b"\nendobj\n")
        return len(offsets)

    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    obj(b"<< /Type /Catalog /Pages 2 0 R >>")
    pages_at = out.tell()
    obj(b"<< /Type /Pages /Kids [] /Count 0 >>" + b" " * (16 * count))  # rewritten below
    kids = []
    content = b"q 500 0 0 500 50 50 cm /Im0 Do Q"
    for _ in range(count):
        image = obj(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>" % (side, side, side * side),
            os.urandom(side * side),
        )
        stream = obj(b"<< /Length %d >>" % len(content), content)
        kids.append(
            obj(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /XObject << /Im0 %d 0 R >> >> >>" % (stream, image)
            )
        )
    pages = b"2 0 obj\n<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        count,
    )
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref_at))
    data = out.getbuffer()
    padded = pages.ljust(len(b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>") + 16 * count)
    data[pages_at : pages_at + len(padded)] = padded
    del data
    return out.getvalue()


def _in_memory_signer() -> signers.SimpleSigner:
    """An ECDSA P-256 key in memory and a root → issuing → signer chain like the platform's."""
    now = datetime.now(UTC)

    def cert(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
        ca: bool,
    ) -> x509.Certificate:
        issuer_name, issuer_key = issuer or (subject, key)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )

    root_key, issuing_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("Bench Root", root_key, None, True)
    issuing = cert("Bench Issuing", issuing_key, ("Bench Root", root_key), True)
    leaf = cert("张三", key, ("Bench Issuing", issuing_key), False)

    def load(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signers.SimpleSigner(
        signing_cert=load(leaf),
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs([load(issuing), load(root)]),  # type: ignore[no-untyped-call]
    )


def _platform(data_dir: Path) -> tuple[Runtime, pki_service.CertificateRead, list[bytes]]:
    runtime = Runtime(Settings(data_dir=data_dir, demo=False, worker_in_process=False))
    bootstrap.prepare(runtime)
    with runtime.transaction() as session:
        cert = pki_service.issue_person_certificate(
            session=session, clock=runtime.clock, subject_id=new_id("usr"), name="张三"
        )
        chain = pki_service.ca_chain(session=session)
    return runtime, cert, chain


def sign_raw(runtime: Runtime, signer: signers.SimpleSigner, data: bytes) -> bytes:
    """Sign like pyHanko's README: defaults, no reserved size (case a)."""
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES)
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer,
        timestamper=pki_service.timestamper_for(runtime),
        new_field_spec=fields.SigFieldSpec("Signature1", on_page=0, box=BOX),
    )
    out: io.BytesIO = asyncio.run(pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data))))
    return out.getvalue()


def sign_qianshu(runtime: Runtime, cert: pki_service.CertificateRead, chain: list[bytes], data: bytes) -> bytes:
    """Sign through the service: custody key, CA check, CJK text stamp, TSA (case b)."""
    return signing_service.sign_pdf(
        runtime=runtime,
        data=data,
        key_label=cert.key_label,
        cert_der=cert.der,
        chain_der=chain,
        field_name="Signature1",
        appearance=TextAppearance(),
        page=0,
        rect=Rect(x1=BOX[0], y1=BOX[1], x2=BOX[2], y2=BOX[3]),
    )


def _rates(cases: dict[str, Any], rounds: int) -> dict[str, float]:
    """Return signatures per second of each case: 1 / the median time of a signature.

    The cases run round-robin and the median ignores the rounds other work on the machine slowed
    down, so the ratios hold on a busy machine too.
    """
    for fn in cases.values():  # warm-up: font subset cache, CRL, imports
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1 / statistics.median(spent) for name, spent in times.items()}


def rss_child(path: Path, data_dir: Path) -> None:
    """Sign the PDF at `path` once through the service and print the peak RSS in MiB."""
    runtime, cert, chain = _platform(data_dir)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = path.read_bytes()
    signed = sign_qianshu(runtime, cert, chain, data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "input_mib": round(len(data) / MiB, 1),
                "output_mib": round(len(signed) / MiB, 1),
                "peak_rss_mib": round(peak, 1),
                "rss_before_pdf_mib": round(baseline, 1),
            }
        )
    )


def _softhsm_token(base: Path, module: str) -> dict[str, str]:
    """Make a SoftHSM2 token under `base`; return the environment that points Qianshu's custody at it."""
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    pin = "246810"
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "qianshu-bench", "--pin", pin, "--so-pin", "13579"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {
        **env,
        "QIANSHU_CUSTODY_BACKEND": "pkcs11",
        "QIANSHU_PKCS11_MODULE": module,
        "QIANSHU_PKCS11_TOKEN_LABEL": "qianshu-bench",
        "QIANSHU_PKCS11_PIN": pin,
    }


def main() -> None:
    """Run the benchmark and write bench/results/sign.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--big-mib", type=int, default=50)
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-big", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--custody", choices=("file", "pkcs11"), default="file")
    parser.add_argument("--pkcs11-module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.data_dir)
        return
    if args.make_big:
        args.make_big.write_bytes(big_pdf(args.big_mib * MiB))
        return

    with tempfile.TemporaryDirectory(prefix="qianshu-bench-") as tmp:
        if args.custody == "pkcs11":  # the children inherit the environment, and so the token
            os.environ.update(_softhsm_token(Path(tmp) / "softhsm", args.pkcs11_module))
        # The 50 MB run goes first, in children: Linux carries ru_maxrss across fork and exec, so the
        # measuring child must start from a parent that is still small.
        big = Path(tmp) / "big.pdf"
        subprocess.run([sys.executable, __file__, "--make-big", str(big), "--big-mib", str(args.big_mib)], check=True)
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(big), "--data-dir", str(Path(tmp) / "rss-data")],
            capture_output=True,
            text=True,
            check=True,
        )
        results: dict[str, Any] = {"rounds": args.rounds, "custody": args.custody}
        results["big_pdf"] = json.loads(child.stdout.strip().splitlines()[-1])

        runtime, cert, chain = _platform(Path(tmp) / "data")
        raw_signer = _in_memory_signer()
        documents = {pages: contract_pdf(pages) for pages in (1, 100)}
        cases: dict[str, Any] = {}
        for pages, data in documents.items():
            cases[f"raw_{pages}"] = lambda data=data: sign_raw(runtime, raw_signer, data)
            cases[f"ours_{pages}"] = lambda data=data: sign_qianshu(runtime, cert, chain, data)
        rates = _rates(cases, args.rounds)
        for pages, data in documents.items():
            raw, ours = rates[f"raw_{pages}"], rates[f"ours_{pages}"]
            results[f"{pages}_page"] = {
                "pdf_bytes": len(data),
                "raw_pyhanko_sigs_per_s": round(raw, 1),
                "qianshu_sigs_per_s": round(ours, 1),
                "ratio_qianshu_over_raw": round(ours / raw, 2),
            }
            print(f"{pages:>3} page(s): raw pyHanko {raw:6.1f}/s  Qianshu {ours:6.1f}/s  {ours / raw:.2f}×")
        results["qianshu_100_page_cost_over_1_page"] = round(rates["ours_1"] / rates["ours_100"], 2)
        print(f"Qianshu 100-page cost / 1-page cost: {results['qianshu_100_page_cost_over_1_page']:.2f}×")
        big_result = results["big_pdf"]
        print(f"{big_result['input_mib']:.0f} MiB PDF: peak RSS {big_result['peak_rss_mib']} MiB")
        runtime.close()

    results.update(
        {
            "targets": {
                "ratio_at_least": 1.0,
                "ratio_aim": 1.5,
                "hundred_page_cost_at_most": 1.1,
                "big_pdf_peak_rss_mib_below": 300,
            },
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),  # other work on the machine skews rates
        }
    )
    RESULTS.mkdir(exist_ok=True)
    name = "sign.json" if args.custody == "file" else f"sign-{args.custody}.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
