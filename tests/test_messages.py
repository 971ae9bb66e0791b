"""Messages built from a variable read as English: "an image", "an md5 hash", "a video"."""

from __future__ import annotations

import pytest

from takeback.errors import article
from takeback.evidence.custody import CustodyError, _check_value
from takeback.signals import get_signal_type
from takeback.signals.base import SignalError
from takeback.web.errors import ApiError
from takeback.web.uploads import check_kind


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("image", "an"),
        ("archive", "an"),
        ("unknown", "an"),
        ("int", "an"),
        ("object", "an"),
        ("md5", "an"),
        ("MP4", "an"),
        ("hour", "an"),
        ("video", "a"),
        ("photo", "a"),
        ("sha256", "a"),
        ("pdq", "a"),
        ("vpdq", "a"),
        ("URL", "a"),
        ("user", "a"),
        ("float", "a"),
    ],
)
def test_article(word: str, expected: str) -> None:
    assert article(word) == expected


def test_upload_of_the_wrong_kind_says_not_an_image() -> None:
    with pytest.raises(ApiError) as err:
        check_kind("photo", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
    assert "not an image;" in err.value.message


def test_hash_errors_say_an_md5() -> None:
    with pytest.raises(SignalError, match=r"^--md5: an md5 hash is 32 hex characters; got 3\.$"):
        get_signal_type("md5").validate("abc", field="--md5")
    with pytest.raises(SignalError, match=r"^--sha256: a sha256 hash may contain"):
        get_signal_type("sha256").validate("zz" * 32, field="--sha256")


def test_custody_detail_error_says_an_object() -> None:
    with pytest.raises(CustodyError, match=r"custody detail details\.x is an object;"):
        _check_value(object(), "details.x")
