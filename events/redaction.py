"""Credentials that hosts leak into error text, removed before anything is stored or shown."""

from __future__ import annotations

import re

MASK = "[redacted]"

# Every pattern stops at '"' and '\\', so redacting the raw JSON text never breaks its syntax,
# and the parsed values are redacted by the same single pass.
_VALUE = r"[^\s\"\\',;&}\])]"
_QUOTE = r"(?:\\?[\"'])?"
_PATTERNS = [
    # scheme://user:password@host
    (
        re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s\"\\/@:]*:)[^\s\"\\/@]+(@)"),
        rf"\g<1>{MASK}\g<2>",
    ),
    # Authorization: Bearer xyz / Basic xyz / token xyz
    (
        re.compile(
            rf"(?i)((?:proxy-)?authorization{_QUOTE}\s*[:=]\s*{_QUOTE}(?:[a-z]+\s+)?){_VALUE}+"
        ),
        rf"\g<1>{MASK}",
    ),
    # password=..., passwd: ..., token=..., secret=..., api_key=... in URLs, configs and reprs
    (
        re.compile(
            r"(?i)((?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|"
            rf"client[_-]?secret|private[_-]?key){_QUOTE}\s*[:=]\s*{_QUOTE}){_VALUE}+"
        ),
        rf"\g<1>{MASK}",
    ),
]


def redact(text: str) -> str:
    """Mask credentials in text: URL user info, authorization headers, password/token pairs."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
