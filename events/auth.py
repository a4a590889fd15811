"""How a sync host proves who it is: a bearer token, HTTP Basic, or ?token= in the URL."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest

from events.models import SyncHost
from events.schemas import InvalidEvent


def _token_from(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidEvent("malformed basic authorization header", status=401) from None
        return decoded.partition(":")[2]
    if header:
        raise InvalidEvent("unsupported authorization scheme", status=401)
    return request.GET.get("token", "")


def authenticate_host(request: HttpRequest) -> SyncHost:
    """The active host whose token the request carries; InvalidEvent(401) otherwise."""
    token = _token_from(request)
    if not token:
        raise InvalidEvent("missing token", status=401)
    host = SyncHost.authenticate(token)
    if host is None:
        raise InvalidEvent("wrong token", status=401)
    return host
