"""Child-process side of `check_pdf_acceptable`: inspect one PDF from stdin under hard limits.

Run as `python -m qianshu.signing._probe MEMORY_MB CPU_SECONDS`; writes one JSON object to stdout.
Hostile files (cyclic references, decompression bombs, lying page counts) can at worst exhaust
this process's own limits; the parent turns that into a clear refusal.
"""

from __future__ import annotations

import json
import resource
import sys


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    sys.setrecursionlimit(5000)


def main() -> None:
    """Read the PDF from stdin, inspect it and print the verdict as JSON."""
    _limit(int(sys.argv[1]), int(sys.argv[2]))
    data = sys.stdin.buffer.read()
    from qianshu.core.errors import QianshuError
    from qianshu.signing.inspection import inspect_pdf

    try:
        pages = inspect_pdf(data)
        verdict: dict[str, object] = {"ok": True, "pages": pages}
    except QianshuError as exc:
        verdict = {"ok": False, "slug": exc.slug, "detail": exc.detail, "detail_en": exc.detail_en}
    except MemoryError:
        verdict = {"ok": False, "slug": "pdf-too-complex", "detail": "", "detail_en": "memory limit reached"}
    sys.stdout.write(json.dumps(verdict, ensure_ascii=False))


if __name__ == "__main__":
    main()
