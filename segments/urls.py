from django.urls import path

from segments import views

app_name = "lists"
urlpatterns = [
    path("", views.list_index, name="index"),
    path("new/", views.list_create, name="create"),
    path("from-file/", views.list_from_csv, name="from_csv"),
    path("contact/<int:contact_pk>/", views.contact_membership, name="contact_membership"),
    path("<int:pk>/", views.list_detail, name="detail"),
    path("<int:pk>/edit/", views.list_edit, name="edit"),
    path("<int:pk>/archive/", views.list_archive, name="archive"),
    path("<int:pk>/delete/", views.list_delete, name="delete"),
    path("<int:pk>/analytics/", views.list_analytics, name="analytics"),
    path("<int:pk>/remove-file/", views.list_remove_file, name="remove_file"),
]
