from django.urls import path

from . import dcat_views, views

app_name = "catalogue"

urlpatterns = [
    path("", views.search, name="search"),
    path("datasets/new/", views.dataset_create, name="dataset-create"),
    path("datasets/<uuid:pk>/", views.dataset_detail, name="dataset"),
    path("datasets/<uuid:pk>/edit/", views.dataset_edit, name="dataset-edit"),
    path("datasets/<uuid:pk>/transition/", views.dataset_transition, name="dataset-transition"),
    path("catalogue/dcat", dcat_views.dcat_catalogue, name="dcat"),
    path("catalogue/datasets/<uuid:pk>.<str:ext>", dcat_views.dcat_dataset, name="dcat-dataset"),
]
