"""Strict parsing of what clients put in headers and form fields: a count is ASCII digits and nothing else.

Python's `int()` also takes `1_000`, ` 12 `, `+12` and other scripts' digits; a header that says
`Upload-Length: 1_000` is malformed, not a thousand.
"""

from __future__ import annotations

import base64
import binascii
import re

from vodkit_shared.service import ApiError

_BYTE_COUNT = re.compile(r"[0-9]{1,19}")  # 19 digits: as far as a signed 64-bit count goes


def plain_digits(value: str) -> bool:
    """True for a whole number written as ASCII digits only (what form fields and headers must be)."""
    return _BYTE_COUNT.fullmatch(value) is not None


def byte_count(value: str | None, name: str) -> int:
    """The header's value as a byte count; 400 if it is missing or anything but plain digits."""
    if value is None or not plain_digits(value):
        raise ApiError(400, "bad_request", f"{name} must be a byte count (digits 0-9 only)")
    return int(value)


def base64_value(value: str) -> bytes | None:
    """Canonical base64 (RFC 4648 §4, padded) decoded; None for anything else.

    Python's decoder also takes `YWJj=` (padding after a whole group) and `YR==` (bits set in the
    padding): encoding the result again and comparing refuses every non-canonical form at once.
    """
    try:
        data = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None
    return data if base64.b64encode(data).decode() == value else None
