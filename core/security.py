"""Password hashing (argon2id; scrypt hashes of earlier versions still verify and are rehashed on the next
sign-in), masking of personal data in logs, and ids read from untrusted text.

Hashing and verifying take a noticeable fraction of a second on purpose: async code calls the `*_async`
variants, which run them in a worker thread instead of blocking the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults: RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4).
_ARGON2 = PasswordHasher()
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string, `$argon2id$v=19$...`), salted."""
    return _ARGON2.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`: an argon2 hash, or a `scrypt$salt$digest` one of earlier versions.
    Anything else (empty, corrupt, another scheme) never matches."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    return False


def needs_rehash(stored: str) -> bool:
    """True for a hash that should be replaced after a successful sign-in: scrypt, or argon2 with parameters
    other than today's."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password, password, stored)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64, validate=True), base64.b64decode(digest_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return hmac.compare_digest(digest, expected)


def scrypt_hash(password: str, salt: bytes) -> str:
    """A hash in the scheme of earlier versions (for tests of the upgrade path and migrations of old data)."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def token_digest(token: str) -> str:
    """SHA-256 (hex) of a random bearer secret (a console session's cookie): what is stored instead of it."""
    return hashlib.sha256(token.encode()).hexdigest()


_ID = re.compile(r"[0-9]{1,10}")
MAX_ID = 2**31 - 1  # every table's id is an INTEGER column (32 bits on PostgreSQL)


def parse_id(text: str) -> int | None:
    """A record id from untrusted text (a button payload, a path): ASCII digits only, within an id column's
    range; else None (a larger number would fail in the database instead of finding nothing)."""
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


# Phone numbers in the formats people write them: 13812345678, 138 1234 5678, 138-1234-5678, +86 138…,
# 0086-138…, (+86)138…; and landlines with an area code (0571-88123456). Then any other run of 10+ digits.
_PHONE = re.compile(
    r"(?<![\d+])"
    r"(?P<cc>(?:\(?(?:\+|00)86\)?|86)[\s.-]?)?"
    r"(?P<number>1[3-9]\d[\s.-]?\d{4}[\s.-]?\d{4}|0\d{2,3}[\s-]\d{7,8})"
    r"(?!\d)"
)
_LONG_DIGITS = re.compile(r"(?<!\d)\d{10,}(?!\d)")


def mask_digits(text: str) -> str:
    """Mask phone and account numbers in free text (log lines, error messages) the way staff see them:
    a phone in any common format -> 138******** (its last four digits are the binding secret, never shown),
    a 10-digit account number -> 33******67, any other run of 11+ digits like a phone."""
    text = _PHONE.sub(_mask_phone_match, text)
    return _LONG_DIGITS.sub(
        lambda m: mask_account(m.group(0)) if len(m.group(0)) == 10 else mask_phone(m.group(0)), text
    )


_SHORT_DIGITS = re.compile(r"(?<!\d)\d{4,9}(?!\d)")


def mask_customer_text(text: str) -> str:
    """What a customer wrote, for a DEBUG log line: mask_digits, and every other run of 4+ digits hidden too
    (a message may be the last four digits of a phone, the binding secret): 我的尾号5678 -> 我的尾号****."""
    return _SHORT_DIGITS.sub(lambda m: "*" * len(m.group(0)), mask_digits(text))


def _mask_phone_match(match: re.Match[str]) -> str:
    return (match.group("cc") or "") + mask_phone(match.group("number"))


def mask_phone(phone: str | None) -> str:
    """A phone as staff may see it: its first three digits (the carrier), the rest masked — the last four are
    the binding secret: 13812345678 -> 138********. A country code (+86) is dropped."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    for country in ("0086", "86"):
        if len(digits) == 11 + len(country) and digits.startswith(country):
            digits = digits[len(country) :]
            break
    return digits[:3] + "*" * max(0, len(digits) - 3) if digits else ""


def mask_account(number: str | None) -> str:
    """An account number in a list: 3301234567 -> 33******67 (the full one is shown to whom it concerns)."""
    if not number:
        return ""
    return number[:2] + "*" * max(0, len(number) - 4) + number[-2:] if len(number) > 4 else "*" * len(number)
