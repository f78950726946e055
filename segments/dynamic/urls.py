from django.urls import path

from segments.dynamic import views

app_name = "segments"
urlpatterns = [
    path("", views.segment_index, name="index"),
    path("new/", views.segment_create, name="create"),
    path("preview/", views.segment_preview, name="preview"),
    path("<int:pk>/", views.segment_detail, name="detail"),
    path("<int:pk>/edit/", views.segment_edit, name="edit"),
    path("<int:pk>/delete/", views.segment_delete, name="delete"),
    path("<int:pk>/analytics/", views.segment_analytics, name="analytics"),
    path("<int:pk>/refresh/", views.segment_refresh, name="refresh"),
]
