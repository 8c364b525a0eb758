"""Message bodies made safe to show: JSON pretty-printed, text payloads
decoded by their content type's charset, anything else as a hex dump.
The results are plain strings: the templates escape them."""
from __future__ import annotations

import json
from typing import Any, Optional, Tuple

MAX_SHOWN = 64 * 1024
TEXTUAL = ("application/json", "application/xml", "application/javascript",
           "application/x-www-form-urlencoded", "application/yaml")


def charset_of(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value:
            return value.strip().strip('"')
    return "utf-8"


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


def show(body: Any, payload: Optional[bytes], content_type: Optional[str]) -> Tuple[str, str]:
    """(kind, text): kind is ``json``, ``text`` or ``hex``."""
    if payload is None:
        return "json", _clip(json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False))
    data = bytes(payload)
    clipped = len(data) > MAX_SHOWN
    if is_textual(content_type):
        try:
            text = data[:MAX_SHOWN].decode(charset_of(content_type or ""), errors="replace")
        except LookupError:  # an unknown charset: show the bytes
            text = None
        if text is not None:
            if (content_type or "").split(";")[0].strip().lower().endswith("json"):
                try:
                    text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
                except ValueError:
                    pass
            return "text", text + (f"\n... ({len(data)} bytes in all)" if clipped else "")
    return "hex", hexdump(data[:MAX_SHOWN]) + (
        f"\n... ({len(data)} bytes in all)" if clipped else "")


def _clip(text: str) -> str:
    if len(text) > MAX_SHOWN:
        return text[:MAX_SHOWN] + f"\n... ({len(text)} characters in all)"
    return text
