"""Message bodies made safe to show: JSON pretty-printed, text payloads
decoded by their content type's charset, anything else as a hex dump.
The results are plain strings: the templates escape them.

The database sends at most ``MAX_SHOWN`` (+1) characters of a JSON body
(as text: psycopg never parses it) and bytes of a payload, with their full
sizes; whatever a body holds, showing it fails only with an error shown
in its place."""
from __future__ import annotations

import codecs
import json
from typing import Optional, Tuple

MAX_SHOWN = 64 * 1024
TEXTUAL = ("application/json", "application/xml", "application/javascript",
           "application/x-www-form-urlencoded", "application/yaml")
# codecs Python finds by name that do not decode text a message may carry
NOT_TEXT = {"idna", "punycode", "undefined", "unicode_escape", "raw_unicode_escape",
            "raw-unicode-escape", "unicode-escape", "mbcs", "oem"}


def charset_of(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value:
            return value.strip().strip('"')
    return "utf-8"


def text_codec(charset: str) -> Optional[str]:
    """The codec's name when charset names a real text encoding, else None."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.lower() in NOT_TEXT:
        return None
    return info.name


def is_textual(content_type: Optional[str]) -> bool:
    if not content_type:
        return False
    media = content_type.split(";")[0].strip().lower()
    return media.startswith("text/") or media in TEXTUAL or media.endswith(("+json", "+xml"))


def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)


def clipped_note(size: int) -> str:
    return f"\n... ({size:,} bytes, first {MAX_SHOWN // 1024} kB shown)"


def pretty_json(text: str) -> str:
    """text pretty-printed, or as it is when it does not parse (or nests
    too deeply for Python)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def show(body_text: Optional[str], body_size: Optional[int], payload: Optional[bytes],
         payload_size: Optional[int], content_type: Optional[str]) -> Tuple[str, str]:
    """(kind, text): kind is ``json``, ``text`` or ``hex``.  body_text is
    the start of a JSON body's text, payload the start of a binary one;
    the sizes are the whole bodies' in bytes."""
    if payload is None:
        body = body_text or ""
        if len(body) > MAX_SHOWN:
            return "json", body[:MAX_SHOWN] + clipped_note(body_size or len(body))
        return "json", pretty_json(body)
    data = bytes(payload)
    size = payload_size if payload_size is not None else len(data)
    clipped = size > MAX_SHOWN
    note = clipped_note(size) if clipped else ""
    data = data[:MAX_SHOWN]
    codec = text_codec(charset_of(content_type or "")) if is_textual(content_type) else None
    if codec is not None:
        try:
            text: Optional[str] = data.decode(codec, errors="replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            text = None  # a codec that refuses even with errors="replace"
        if text is not None:
            if not clipped and \
                    (content_type or "").split(";")[0].strip().lower().endswith("json"):
                text = pretty_json(text)
            return "text", text + note
    return "hex", hexdump(data) + note
