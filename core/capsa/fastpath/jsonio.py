"""JSON for capsa's own records, without importing the ``json`` package on the way to a container.

``import json`` costs about 5.5 ms on the machines capsa runs on: its decoder and encoder import
``re`` (and with it ``enum``) and compile five patterns, while the work itself is done by
CPython's C accelerator ``_json`` either way. :func:`loads` and :func:`dumps` call that
accelerator directly, the way ``json.loads`` and ``json.dumps`` do for their defaults.

Contract: ``loads(text)`` returns what ``json.loads(text)`` returns and raises the same
``json.JSONDecodeError`` (a ValueError) for invalid input; ``dumps(obj)`` returns what
``json.dumps(obj, separators=(",", ":"))`` returns (ASCII-only, compact) and raises TypeError
for values JSON cannot hold, except that capsa's records (:mod:`capsa.fastpath.record`) are written as
``asdict`` would turn them, without copying them first. Where ``_json`` is missing (another
Python implementation), both fall back to the ``json`` module. Pretty-printed output
(``inspect``) uses ``json`` itself.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


class _DecoderContext:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder`` (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return float({"-Infinity": "-inf", "Infinity": "inf", "NaN": "nan"}[name])


def _unencodable(value: Any) -> Any:
    """What ``dumps`` makes of values JSON has no type for: records become objects of their
    fields (:mod:`capsa.fastpath.record`); anything else is refused as ``json.dumps`` refuses it."""
    from capsa.fastpath.record import is_record, shallow_dict

    if is_record(value) and not isinstance(value, type):
        return shallow_dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


try:
    import _json

    _scan = _json.make_scanner(_DecoderContext())
    _make_encoder = _json.make_encoder
    _escape = _json.encode_basestring_ascii
except (ImportError, AttributeError, TypeError):  # not CPython: the json module does it all
    _scan = _make_encoder = None


def _utf8(data: bytes | bytearray) -> bool:
    """Whether ``json.loads`` would read these bytes as UTF-8 (no BOM, no UTF-16/32 zero bytes)."""
    return not data.startswith((b"\xef\xbb\xbf", b"\xff", b"\xfe")) and (len(data) < 2 or bool(data[0] and data[1]))


def loads(text: str | bytes | bytearray) -> Any:
    """Parse one JSON document, as ``json.loads`` does."""
    if isinstance(text, (bytes, bytearray)) and _scan is not None and _utf8(text):
        text = text.decode("utf-8", "surrogatepass")
    if _scan is None or not isinstance(text, str):
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):  # SystemError: the scanner fails on some torn input
        end = -1  # without its error (it wants json.decoder for that): json reports it below
    if end == -1 or text[end:].strip(_WHITESPACE):
        import json

        return json.loads(text)  # raises the standard error for this input
    return value


def dumps(value: Any, sort_keys: bool = False) -> str:
    """Compact, ASCII-only JSON text for ``value`` (objects' keys sorted with ``sort_keys``);
    records (anywhere in it) are written as objects of their fields, as
    ``json.dumps(asdict(record))`` writes them."""
    if _make_encoder is None:
        import json

        return json.dumps(value, separators=(",", ":"), default=_unencodable, sort_keys=sort_keys)
    # a fresh encoder per call, as json.dumps makes: its circular-reference markers start empty
    encode = _make_encoder({}, _unencodable, _escape, None, ":", ",", sort_keys, False, True)
    return "".join(encode(value, 0))
