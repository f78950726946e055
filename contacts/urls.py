from django.urls import path

from contacts import views
from contacts.bulk import views as bulk_views
from engagement import timeline_views

app_name = "contacts"
urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_create, name="create"),
    path("columns/", views.save_columns, name="columns"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/score/override/", views.score_override, name="score_override"),
    path("<int:pk>/score/override/remove/", views.score_override_remove,
         name="score_override_remove"),
    path("<int:pk>/timeline/", timeline_views.contact_timeline_view, name="timeline"),
    path("<int:pk>/delete/", views.contact_delete, name="delete"),
    path("bulk/", bulk_views.bulk_action, name="bulk"),
    path("bulk/history/", bulk_views.operation_list, name="bulk_list"),
    path("bulk/<int:pk>/", bulk_views.operation_detail, name="bulk_detail"),
    path("bulk/<int:pk>/progress", bulk_views.operation_progress, name="bulk_progress"),
    path("bulk/<int:pk>/undo/", bulk_views.operation_undo, name="bulk_undo"),
    path("fields/", views.field_list, name="field_list"),
    path("fields/new/", views.field_create, name="field_create"),
    path("fields/<int:pk>/edit/", views.field_edit, name="field_edit"),
    path("fields/<int:pk>/delete/", views.field_delete, name="field_delete"),
]
