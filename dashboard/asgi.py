"""The ASGI entry point: Django for HTTP, the live consumer for websockets.

Behind a proxy at URL_PREFIX the proxy forwards paths unchanged (/pulp-dashboard/ws/live/).
Django's HTTP handler removes FORCE_SCRIPT_NAME from the path itself; websocket paths get the
same treatment here, so both protocols accept a path with or without the prefix.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from events.routing import websocket_urlpatterns  # noqa: E402


class StripScriptPrefix:
    """Remove FORCE_SCRIPT_NAME from a websocket path, as Django does for HTTP requests."""

    def __init__(self, app, prefix: str | None) -> None:
        self.app = app
        self.prefix = prefix or ""

    async def __call__(self, scope, receive, send):
        path = scope["path"]
        if self.prefix and path.startswith(self.prefix + "/"):
            scope = dict(scope, path=path.removeprefix(self.prefix))
        return await self.app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": StripScriptPrefix(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            settings.FORCE_SCRIPT_NAME,
        ),
    }
)
