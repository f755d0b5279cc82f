"""A small CBOR (RFC 8949) encoder and decoder, Python standard library only.

Enough for Smithy RPC v2 CBOR (what aws-sdk-cloudwatch speaks): every major type, definite and
indefinite lengths, half/single/double floats, tags. Python values:

* ``int`` (major 0/1, bignum tags 2/3 when out of 64-bit range), ``bytes`` (2), ``str`` (3),
  ``list`` (4), ``dict`` (5), ``Tag(tag, value)`` (6), ``bool``/``None``/``Undefined`` and
  ``float`` (7; the encoder always writes float64, as Smithy clients accept).
* A timestamp is ``Tag(1, <epoch seconds>)``; ``timestamp(seconds)`` builds one.
"""

from __future__ import annotations

import math
import struct
from typing import Any

__all__ = ["Tag", "Undefined", "CBORDecodeError", "dumps", "loads", "timestamp"]


class CBORDecodeError(ValueError):
    pass


class _UndefinedType:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"


Undefined = _UndefinedType()


class Tag:
    """A tagged data item (major type 6)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: int, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash((self.tag, repr(self.value)))

    def __repr__(self) -> str:
        return f"Tag({self.tag}, {self.value!r})"


def timestamp(seconds: float) -> Tag:
    """An epoch-seconds timestamp (tag 1) with a float64 value, as Smithy's CBOR codec wants."""
    return Tag(1, float(seconds))


# -- encoding -------------------------------------------------------------------------------


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | extra]) + n.to_bytes(size, "big")
    raise ValueError("CBOR argument too large")


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is Undefined:
        out.append(0xF7)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if 0 <= value < 1 << 64:
            out += _head(0, value)
        elif -(1 << 64) <= value < 0:
            out += _head(1, -1 - value)
        else:  # bignum
            tag, n = (2, value) if value >= 0 else (3, -1 - value)
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            out += _head(6, tag) + _head(2, len(raw)) + raw
    elif isinstance(value, float):
        out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _head(3, len(raw)) + raw
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out += _head(2, len(raw)) + raw
    elif isinstance(value, (list, tuple)):
        out += _head(4, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out += _head(5, len(value))
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    elif isinstance(value, Tag):
        out += _head(6, value.tag)
        _encode(value.value, out)
    else:
        raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


# -- decoding -------------------------------------------------------------------------------

_BREAK = object()


def _half(bits: int) -> float:
    exp = (bits >> 10) & 0x1F
    mant = bits & 0x3FF
    if exp == 0:
        val = math.ldexp(mant, -24)
    elif exp == 31:
        val = math.inf if mant == 0 else math.nan
    else:
        val = math.ldexp(mant + 1024, exp - 25)
    return -val if bits & 0x8000 else val


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.depth = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CBORDecodeError("truncated CBOR data")
        raw = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return raw

    def argument(self, info: int) -> int | None:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self.take(1 << (info - 24)), "big")
        if info == 31:
            return None  # indefinite length (or break, for major 7)
        raise CBORDecodeError(f"reserved additional information {info}")

    def item(self, allow_break: bool = False) -> Any:
        self.depth += 1
        if self.depth > 256:
            raise CBORDecodeError("CBOR nesting too deep")
        try:
            return self._item(allow_break)
        finally:
            self.depth -= 1

    def _chunks(self, major: int) -> bytes:
        parts = []
        while True:
            initial = self.take(1)[0]
            if initial == 0xFF:
                return b"".join(parts)
            if initial >> 5 != major:
                raise CBORDecodeError("bad chunk in indefinite-length string")
            n = self.argument(initial & 0x1F)
            if n is None:
                raise CBORDecodeError("nested indefinite-length string")
            parts.append(self.take(n))

    def _item(self, allow_break: bool) -> Any:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info == 22:
                return None
            if info == 23:
                return Undefined
            if info == 25:
                return _half(int.from_bytes(self.take(2), "big"))
            if info == 26:
                return struct.unpack(">f", self.take(4))[0]
            if info == 27:
                return struct.unpack(">d", self.take(8))[0]
            if info == 31:
                if allow_break:
                    return _BREAK
                raise CBORDecodeError("unexpected break")
            if info < 24:
                return Tag(-1, info)  # unassigned simple value; keep it visible
            if info == 24:
                return Tag(-1, self.take(1)[0])
            raise CBORDecodeError(f"reserved simple value {info}")
        n = self.argument(info)
        if major == 0:
            if n is None:
                raise CBORDecodeError("indefinite integer")
            return n
        if major == 1:
            if n is None:
                raise CBORDecodeError("indefinite integer")
            return -1 - n
        if major == 2:
            return self._chunks(2) if n is None else self.take(n)
        if major == 3:
            raw = self._chunks(3) if n is None else self.take(n)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CBORDecodeError(f"invalid UTF-8 in text string: {e}") from None
        if major == 4:
            items = []
            if n is None:
                while (x := self.item(allow_break=True)) is not _BREAK:
                    items.append(x)
            else:
                for _ in range(n):
                    items.append(self.item())
            return items
        if major == 5:
            result: dict = {}
            count = 0
            while n is None or count < n:
                key = self.item(allow_break=n is None)
                if key is _BREAK:
                    break
                if isinstance(key, (list, dict)):
                    raise CBORDecodeError("unhashable map key")
                result[key] = self.item()
                count += 1
            return result
        # major 6: tag
        if n is None:
            raise CBORDecodeError("indefinite tag")
        value = self.item()
        if n in (2, 3) and isinstance(value, bytes):
            big = int.from_bytes(value, "big")
            return big if n == 2 else -1 - big
        return Tag(n, value)


def loads(data: bytes) -> Any:
    """Decodes exactly one CBOR data item; trailing bytes are an error."""
    decoder = _Decoder(data)
    value = decoder.item()
    if decoder.pos != len(decoder.data):
        raise CBORDecodeError(f"{len(decoder.data) - decoder.pos} bytes after the CBOR item")
    return value
