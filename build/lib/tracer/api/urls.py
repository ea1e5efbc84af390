from django.urls import path

from . import views

urlpatterns = [
    # CHAIMELEON's clients call /traces without a slash.
    path("traces", views.TraceListView.as_view(), name="trace-list"),
    path("traces/hashes", views.HashAlgorithmsView.as_view(), name="trace-hashes"),
    path("traces/<str:trace_id>", views.TraceDetailView.as_view(), name="trace-detail"),
    path("traces/<str:trace_id>/proof", views.TraceProofView.as_view(), name="trace-proof"),
    # The same with a slash, like the rest of the API; described once in the schema.
    path("traces/", views.TraceListView.as_view(schema=None)),
    path("traces/<str:trace_id>/", views.TraceDetailView.as_view(schema=None)),
    path("traces/<str:trace_id>/proof/", views.TraceProofView.as_view(schema=None)),
]
