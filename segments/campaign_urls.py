from django.urls import path

from segments import campaign_views as views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_index, name="index"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/targets/", views.campaign_targets, name="targets"),
]
