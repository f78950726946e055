"""ASGI entry point: Django for HTTP, channels for WebSocket (tenant from the Host header)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinleads.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from penguinleads.realtime import TenantWebsocketStack, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TenantWebsocketStack(URLRouter(websocket_urlpatterns)),
    }
)
