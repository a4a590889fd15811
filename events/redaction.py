"""Credentials that hosts leak into error text, removed before anything is stored or shown.

redact() runs on the raw request body, before it is parsed, so the stored body and every value
taken from it (error message, traceback, summary, details) are cleaned by one pass. For that the
patterns never consume a lone '"' or '\\' that belongs to the JSON syntax: the text stays valid
JSON. Every pattern starts at a fixed marker ("://", a key name, "-----BEGIN") and its variable
parts are single character classes that cannot overlap, so matching stays linear in the size
of the body (bodies are megabytes).

Limits: inside a string (a message, a traceback) a value is masked up to the first backslash,
so the part of a password after a JSON-escaped character (a non-ASCII letter is sent as an
\\u00e4 escape) stays visible; the value of a JSON key such as "proxy_password" is masked whole. A
URL's user name without a password is not a secret and stays.
"""

from __future__ import annotations

import re

MASK = "[redacted]"

# Names whose value is a secret, also as the tail of a longer name (proxy_password,
# access_token, X-Auth-Token, aws_secret_access_key) but not as a prefix (tokenizer, secrets_dir).
# Headers' values keep their scheme: "Authorization: Basic dXNl..." loses both words.
_NAMES = (
    r"(?P<header>authorization|cookie)"
    r"|pass(?:w(?:or)?d|phrase)|pwd|secret|token|a(?:pi|ccess)[_-]?key|private[_-]?key"
)

# After the name: an optional closing quote, then ':' or '='. A bare '"' marks a key of the body's
# own JSON, whose value may be a number, null or an object: only a string value is replaced there.
_KEY_END = r"""(?:(?P<json_key>")|\\["']|')?\s*[:=]\s*"""
# A JSON string value of the body itself: everything up to its closing quote, escapes included.
_JSON_STRING = r'(?P<json_quote>")(?!")[^"\\]*(?:\\.[^"\\]*)*'
# A value quoted inside a string (a repr, Python 2's u'...', an escaped JSON document): up to
# the next quote.
_QUOTED = r"""(?P<quote>[ub]?\\?["'])[^"'\\\r\n]+"""
_BARE = r"""[^\s"'\\,;&)}\]]+"""
_SCHEME = r"(?(header)(?:[a-z][a-z0-9-]*[ \t]+)?)"
_ASSIGNMENT = (
    rf"(?P<head>(?:{_NAMES}){_KEY_END})"
    # A value already masked (user info "token:[redacted]@") stays as it is.
    rf"(?!{re.escape(MASK)})(?(json_key){_JSON_STRING}|(?:{_QUOTED}|{_SCHEME}{_BARE}))"
)


_URL_USERINFO = re.compile(
    # scheme://user:password@host, also with JSON-escaped slashes (":\/\/"); the password runs
    # to the last '@' before the path, the way urllib splits it, because hosts rarely
    # percent-encode an '@' in a password.
    r"""(?P<head>:(?:\\?/){2}[^\s"'\\/?#@:]*:)(?:[^\s"'\\/?#@]*@)++"""
)
# A key's base64 and header lines; a '-' only where it does not start the END line, so the scan
# of the body stops at the first "-----".
_PEM = r"[A-Za-z0-9+/=:, \t\r\n]"
_PRIVATE_KEY = re.compile(
    rf"(-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----){_PEM}*(?:(?:-(?!-)|\\[rn]){_PEM}*)*"
    r"(-----END (?P=kind)PRIVATE KEY-----)"
)
_REQUESTS_AUTH = (
    # requests' auth=('user', 'password') tuple, as it appears in reprs and log lines.
    r"""(?P<head>\bauth\s*=\s*[(\[]\s*\\?["'][^"'\\]*\\?["']\s*,\s*\\?["'])[^"'\\]+"""
)


class _CaseInsensitive:
    """A pattern matched without regard to case, fast on megabytes.

    A case-insensitive regex cannot skip ahead to its first literal and tries every position;
    the same regex, case-sensitive, on a lower-cased copy finds the same spans several times
    faster. The masked text is then cut from the original, so its case survives.
    """

    def __init__(self, source: str) -> None:
        self.lowered = re.compile(source)
        self.fallback = re.compile(source, re.IGNORECASE)

    def sub(self, text: str) -> str:
        lowered = text.lower()
        # Lower-casing lengthens a few characters ("İ"); then positions no longer line up.
        if len(lowered) != len(text):
            return self.fallback.sub(lambda match: _masked(text, match), text)
        pieces = []
        end = 0
        for match in self.lowered.finditer(lowered):
            pieces += [text[end : match.start()], _masked(text, match)]
            end = match.end()
        pieces.append(text[end:])
        return "".join(pieces)


def _masked(text: str, match: re.Match[str]) -> str:
    """The matched head and opening quote, from the original text, then the mask."""
    kept = text[match.start("head") : match.end("head")]
    for quote in ("json_quote", "quote"):
        if quote in match.re.groupindex and match.start(quote) >= 0:
            kept += text[match.start(quote) : match.end(quote)]
    return kept + MASK


_CASE_INSENSITIVE = [_CaseInsensitive(_REQUESTS_AUTH), _CaseInsensitive(_ASSIGNMENT)]


def redact(text: str) -> str:
    """Mask credentials in text: URL user info, private keys, auth headers, password/token pairs."""
    text = _URL_USERINFO.sub(rf"\g<head>{MASK}@", text)
    text = _PRIVATE_KEY.sub(rf"\1{MASK}\3", text)
    for pattern in _CASE_INSENSITIVE:
        text = pattern.sub(text)
    return text
