"""Opaque ids and the error tree."""

from __future__ import annotations

import pytest

from qianshu.core import errors
from qianshu.core.ids import is_id, new_id


def test_ids_are_prefixed_random_and_recognised() -> None:
    ids = {new_id("usr") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_id(i, "usr") and not is_id(i, "ctr") for i in ids)
    assert not is_id("usr_1")


def test_bad_prefix_refused() -> None:
    with pytest.raises(ValueError, match="bad id prefix"):
        new_id("USR")


def test_every_error_class_has_a_distinct_slug() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.QianshuError)]
    slugs = [c.slug for c in classes]
    assert len(slugs) == len(set(slugs))
    for cls in classes:
        assert 400 <= cls.status < 600 and cls.title and cls.title_en


def test_problem_is_localised() -> None:
    err = errors.InvalidInput("手机号格式不正确", detail_en="Malformed phone number")
    zh, en = err.to_problem(), err.to_problem(locale="en")
    assert zh["detail"] == "手机号格式不正确" and en["detail"] == "Malformed phone number"
    assert zh["type"] == en["type"] == "https://qianshu.dev/problems/invalid-input"
