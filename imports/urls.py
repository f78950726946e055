from django.urls import path

from imports import views
from imports.exports import views as export_views

app_name = "imports"
urlpatterns = [
    path("", views.import_list, name="list"),
    path("new/", views.import_new, name="new"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/map/", views.import_map, name="map"),
    path("<int:pk>/start/", views.import_start, name="start"),
    path("<int:pk>/cancel/", views.import_cancel, name="cancel"),
    path("<int:pk>/rollback/", views.import_rollback, name="rollback"),
    path("<int:pk>/progress", views.import_progress, name="progress"),
    path("<int:pk>/errors.csv", views.import_errors, name="errors"),
    path("exports/", export_views.export_list, name="exports"),
    path("exports/new/", export_views.export_new, name="export_new"),
    path("exports/<int:pk>/", export_views.export_detail, name="export_detail"),
    path("exports/<int:pk>/progress", export_views.export_progress, name="export_progress"),
    path("exports/<int:pk>/download", export_views.export_download, name="export_download"),
]
