"""Response headers and login throttling: the protections Django does not switch on by itself."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils.decorators import sync_and_async_middleware

# htmx 2 swaps without eval (base.html sets allowEval false and turns off its injected
# indicator styles), so scripts and styles come from our own origin only. The websocket is
# allowed by exact origin: CSP 'self' does not cover ws:// in every browser.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {websocket}; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(request: HttpRequest) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return _POLICY.format(websocket=f"{scheme}://{request.get_host()}")


def _with_policy(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = content_security_policy(request)
    return response


@sync_and_async_middleware
def content_security_policy_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _with_policy(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return _with_policy(request, get_response(request))

    return middleware


# Login throttling: LOGIN_FAILURE_LIMIT failures for one username from one address lock that
# pair out for LOGIN_LOCKOUT_SECONDS. Keyed on the pair, not the address alone, so one office
# behind a proxy is not locked out by a single forgetful user. The counters live in Django's
# default cache, which is per process: with N server processes a guesser gets at most N times
# the limit per window, and a Redis outage never blocks logins.


def _failure_key(request: HttpRequest, username: str) -> str:
    who = f"{username.strip().lower()}\0{request.META.get('REMOTE_ADDR', '')}"
    return "login-failures:" + hashlib.sha256(who.encode()).hexdigest()


def is_locked_out(request: HttpRequest, username: str) -> bool:
    return cache.get(_failure_key(request, username), 0) >= settings.LOGIN_FAILURE_LIMIT


@receiver(user_login_failed)
def count_login_failure(
    sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None:
        return
    key = _failure_key(request, credentials.get("username", ""))
    # add() starts the window only on the first failure, so the lockout ends
    # LOGIN_LOCKOUT_SECONDS after it began, however often the attacker keeps trying.
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        cache.incr(key)
    except ValueError:
        # The window expired between add() and incr().
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)


@receiver(user_logged_in)
def forget_login_failures(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if request is not None:
        cache.delete(_failure_key(request, user.get_username()))


@functools.cache
def _login_paths(script_prefix: str) -> frozenset[str]:
    # Cached: every ingest POST passes through here, and reversing costs more than the check.
    return frozenset({reverse("login"), reverse("admin:login")})


def _too_many_failures() -> HttpResponse:
    minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
    response = HttpResponse(
        f"Too many failed logins for this user from this address. Try again in {minutes} minutes.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
    return response


def _refusal(request: HttpRequest) -> HttpResponse | None:
    if request.method != "POST" or request.path not in _login_paths(get_script_prefix()):
        return None
    if not is_locked_out(request, request.POST.get("username", "")):
        return None
    return _too_many_failures()


@sync_and_async_middleware
def login_rate_limit_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a login POST, before the password is checked, once its pair is locked out."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _refusal(request) or await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return _refusal(request) or get_response(request)

    return middleware
