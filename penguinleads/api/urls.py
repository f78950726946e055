"""/api/v1/ on a tenant host: the OpenAPI document and its docs (public), and the endpoints
(API key required)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from contacts import api as contacts_api
from engagement import api as engagement_api
from penguinleads.api.errors import not_found

app_name = "api"

# The docs and the schema are public: no key needed, and a stray Authorization header (say, a
# revoked key left in Swagger UI) must not lock a reader out of the docs.
public = {"authentication_classes": [], "permission_classes": [AllowAny]}

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(**public), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema", **public), name="docs"),
    path("contacts", contacts_api.ContactListView.as_view(), name="contacts"),
    path("contacts/batch", contacts_api.ContactBatchView.as_view(), name="contacts-batch"),
    path("contacts/<int:pk>", contacts_api.ContactDetailView.as_view(), name="contact"),
    path("events/batch", engagement_api.EventBatchView.as_view(), name="events-batch"),
    path("", include("imports.api")),
    path("", include("segments.api")),
    path("", include("segments.dynamic.api")),
    path("", include("imports.exports.api")),
    path("", include("webhooks.api")),
    # Anything else under /api/v1/ answers a JSON 404, not the site's HTML page.
    re_path(r"^.*$", not_found),
]
