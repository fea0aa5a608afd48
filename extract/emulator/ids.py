"""Spotify-style ids that encode a catalog index through a keyed, reversible permutation.

Why: the catalog is generated on demand, so an id must lead back to the index its object is
generated from without any lookup table (flat memory at any scale). An id is the 22-character
base-62 rendering of a 128-bit block ``kind(8) | zero(56) | index(64)`` encrypted with a 4-round
Feistel network keyed by the seed. Ids therefore look random, differ between seeds, and an id the
emulator never issued decrypts to a block whose tag bits are wrong (chance of a false hit about
2**-64), which is how "unknown id" (404) is told apart from "malformed id" (400).
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_INDEX = {c: i for i, c in enumerate(BASE62_ALPHABET)}
ID_LENGTH = 22
_MASK64 = (1 << 64) - 1
_ROUNDS = 4


class Kind(IntEnum):
    """Object kinds that have ids; the value is the tag stored in the id's top byte."""

    ARTIST = 1
    ALBUM = 2
    TRACK = 3
    PLAYLIST = 4
    SHOW = 5
    EPISODE = 6
    USER = 7


def is_base62_id(value: str) -> bool:
    """True when ``value`` has the shape of a Spotify id (22 base-62 characters)."""
    return len(value) == ID_LENGTH and all(c in _BASE62_INDEX for c in value)


def _to_base62(number: int) -> str:
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(BASE62_ALPHABET[digit])
    return "".join(reversed(chars)).rjust(ID_LENGTH, "0")


def _from_base62(text: str) -> int:
    number = 0
    for c in text:
        number = number * 62 + _BASE62_INDEX[c]
    return number


class IdCodec:
    """Encode (kind, index) as an id and back, keyed by the catalog seed."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"spotify-elt-emulator-ids:{seed}".encode()).digest()[:32]

    def _round(self, half: int, round_no: int) -> int:
        digest = hashlib.blake2b(
            half.to_bytes(8, "big"),
            key=self._key,
            digest_size=8,
            person=b"round%03d" % round_no,
        ).digest()
        return int.from_bytes(digest, "big")

    def _encrypt(self, block: int) -> int:
        left, right = block >> 64, block & _MASK64
        for r in range(_ROUNDS):
            left, right = right, left ^ self._round(right, r)
        return (left << 64) | right

    def _decrypt(self, block: int) -> int:
        left, right = block >> 64, block & _MASK64
        for r in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(left, r), left
        return (left << 64) | right

    def encode(self, kind: Kind, index: int) -> str:
        """The id of object ``index`` of ``kind``."""
        if not 0 <= index <= _MASK64:
            raise ValueError(f"index out of range: {index}")
        return _to_base62(self._encrypt((int(kind) << 120) | index))

    def decode(self, kind: Kind, value: str) -> int | None:
        """The index behind ``value`` if it is an id of ``kind`` this codec issued, else None.

        Callers check :func:`is_base62_id` first: a malformed id is a client error (400), while
        a well-formed id that decodes to nothing is merely unknown (404).
        """
        if not is_base62_id(value):
            return None
        number = _from_base62(value)
        if number >> 128:
            return None
        block = self._decrypt(number)
        if block >> 64 != int(kind) << 56:
            return None
        return block & _MASK64
