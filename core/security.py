"""Password hashing (scrypt from the standard library), masking of personal data in logs, and ids read from
untrusted text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P, dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


_ID = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1  # a database BIGINT


def parse_id(text: str) -> int | None:
    """A record id from untrusted text (a button payload, a path): ASCII digits only, within a BIGINT; else None."""
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


_LONG_DIGITS = re.compile(r"(?<!\d)(\d{3})\d{4,}(\d{3})(?!\d)")


def mask_digits(text: str) -> str:
    """Mask account and phone numbers (runs of 10+ digits) for logs: 3301234567 -> 330****567."""
    return _LONG_DIGITS.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 6) + m.group(2), text)
