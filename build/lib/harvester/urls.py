from django.urls import path

from . import views

app_name = "harvester"

urlpatterns = [
    path("nodes/", views.node_list, name="nodes"),
    path("nodes/new/", views.node_new, name="node-new"),
    path("nodes/<uuid:pk>/", views.node_detail, name="node"),
    path("nodes/<uuid:pk>/harvest/", views.node_harvest, name="node-harvest"),
    path("nodes/<uuid:pk>/token/", views.node_token, name="node-token"),
    path("harvest-jobs/<uuid:pk>/", views.job_detail, name="job"),
    path("harvest-jobs/<uuid:pk>/progress", views.job_progress, name="job-progress"),
]
