"""`safe_next` keeps redirects on this site."""

from __future__ import annotations

import pytest

from qianshu.web.links import safe_next


@pytest.mark.parametrize("value", ["/", "/account", "/privacy?v=2#top", "/a/b?next=/c"])
def test_local_paths_pass(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "account", "//evil.example", "/\\evil.example", "https://evil.example/",
     "/a\r\nSet-Cookie: x=1", "/" + "a" * 2001, "javascript:alert(1)"],
)
def test_foreign_or_odd_targets_fall_back(value: str | None) -> None:
    assert safe_next(value) == "/"
    assert safe_next(value, default="/account") == "/account"
