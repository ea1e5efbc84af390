from django.urls import path, re_path

from . import views

# The actions answer with or without a trailing slash: node software is written by hand.
urlpatterns = [
    path("nodes/", views.NodeListView.as_view(), name="node-list"),
    path("nodes/<str:pk>/", views.NodeDetailView.as_view(), name="node-detail"),
    re_path(
        r"^nodes/(?P<pk>[^/]+)/harvest/?$", views.NodeHarvestView.as_view(), name="node-harvest"
    ),
    re_path(r"^nodes/(?P<pk>[^/]+)/records/?$", views.NodePushView.as_view(), name="node-records"),
    re_path(r"^harvest-jobs/(?P<pk>[^/]+)/?$", views.HarvestJobView.as_view(), name="harvest-job"),
    re_path(
        r"^harvest-jobs/(?P<pk>[^/]+)/records/?$",
        views.HarvestJobRecordsView.as_view(),
        name="harvest-job-records",
    ),
]
