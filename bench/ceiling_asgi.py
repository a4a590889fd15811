"""The product's ASGI application plus the ceiling routes, served only by the benchmarks.

Run as `daphne bench.ceiling_asgi:application`: every product path behaves exactly as in
dashboard.asgi; /bench/ HTTP routes and the /bench/ws/ceiling/ socket are added beside them,
and template renders and queries are counted.
"""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

# Imported first: it sets Django up before anything below touches settings.
from dashboard.asgi import application as product_application  # noqa: I001

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator

from bench import instrument
from bench.consumers import CeilingConsumer

CEILING_SOCKET_PATH = "/bench/ws/ceiling/"

instrument.install()
ceiling_socket = AllowedHostsOriginValidator(AuthMiddlewareStack(CeilingConsumer.as_asgi()))


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket" and scope["path"] == CEILING_SOCKET_PATH:
        return await ceiling_socket(scope, receive, send)
    return await product_application(scope, receive, send)
