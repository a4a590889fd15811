from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from events import health
from events.auth import authenticate_host
from events.models import SyncHost
from events.schemas import InvalidEvent
from events.services import ingest

logger = logging.getLogger(__name__)


def error(message: str, status: int = 400, *, field: str | None = None) -> JsonResponse:
    body = {"error": message}
    if field:
        body["field"] = field
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="sync events"'
    return response


def _too_large() -> InvalidEvent:
    return InvalidEvent(f"body is larger than {settings.EVENTS_MAX_BODY_BYTES} bytes", status=413)


def _read_body(request: HttpRequest) -> str:
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise InvalidEvent(
            f"unsupported content type: {content_type or 'none'} (send application/json)",
            status=415,
        )
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit()):
        # Django's request.body would raise a ValueError on it: a 500 for a client mistake.
        raise InvalidEvent("invalid content-length header")
    if int(length) > settings.EVENTS_MAX_BODY_BYTES:
        raise _too_large()
    try:
        raw = request.body
    except RequestDataTooBig:
        raise _too_large() from None
    # A chunked body has no Content-Length to check up front.
    if len(raw) > settings.EVENTS_MAX_BODY_BYTES:
        raise _too_large()
    try:
        return raw.decode(request.encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise InvalidEvent("could not parse request body: not valid utf-8") from None


def _remember_rejection(host: SyncHost, message: str) -> None:
    SyncHost.objects.filter(pk=host.pk).update(
        last_error=message[:1000], last_error_at=timezone.now()
    )


def _database_unavailable(exc: DatabaseError) -> JsonResponse:
    # Nothing was committed: the transaction rolled back. Pulp never retries, but other hosts
    # and our own client do, and Retry-After tells them when.
    logger.error("database unavailable during ingest: %s", exc)
    response = error("database unavailable, nothing was stored; retry later", 503)
    response["Retry-After"] = "30"
    return response


@csrf_exempt
def ingest_event(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        # Not require_POST: its 405 is an empty HTML page, and this endpoint answers JSON.
        response = error(f"method not allowed: {request.method} (send POST)", 405)
        response["Allow"] = "POST"
        return response
    try:
        host = authenticate_host(request)
        ingested = ingest.handle_event(_read_body(request), host=host)
    except InvalidEvent as exc:
        if exc.status != 401:
            _remember_rejection(host, exc.message)
        return error(exc.message, exc.status, field=exc.field)
    except DatabaseError as exc:
        return _database_unavailable(exc)
    return JsonResponse(
        {"status": ingested.outcome, "event": ingested.event.pk, "run": ingested.run.pk}
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health.check()
    return JsonResponse(report, status=200 if report["ok"] else 503)
