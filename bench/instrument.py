"""Count template renders and SQL queries in the server process.

Renders show that a push is rendered once per event whatever the number of sockets; queries
per request explain where ingestion time goes.
"""

from __future__ import annotations

import threading
from collections import Counter

from django.db.backends.signals import connection_created
from django.template.backends.django import Template

renders: Counter[str] = Counter()
queries = [0]
_lock = threading.Lock()
_original_render = Template.render


def _counting_render(self: Template, context=None, request=None) -> str:
    with _lock:
        renders[self.origin.template_name] += 1
    return _original_render(self, context, request)


def _counting_execute(execute, sql, params, many, context):
    with _lock:
        queries[0] += 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs) -> None:
    # The signal fires on every reconnect of the same wrapper: wrap it once.
    if _counting_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counting_execute)


def install() -> None:
    """Wrap every top-level template render, and every query on every new connection."""
    Template.render = _counting_render
    connection_created.connect(_on_connection, weak=False)


def snapshot() -> dict:
    with _lock:
        return {"renders": dict(renders), "queries": queries[0]}
