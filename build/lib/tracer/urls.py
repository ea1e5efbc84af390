from django.urls import path

from . import views

app_name = "tracer"

urlpatterns = [
    path("traces/", views.explorer, name="explorer"),
    path("traces/<uuid:trace_id>/", views.trace_detail, name="trace"),
]
