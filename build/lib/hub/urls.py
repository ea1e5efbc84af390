from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

api_v1 = [
    path("me/", views.MeView.as_view(), name="me"),
    path("", include("catalogue.api.urls")),
    path("", include("tracer.api.urls")),
    path("", include("harvester.api.urls")),
    path("", include("access_requests.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", views.HealthView.as_view(), name="healthz"),
    path("", include("django_prometheus.urls")),
    path("", include("catalogue.urls")),
    path("", include("tracer.urls")),
    path("", include("harvester.urls")),
    path("", include("access_requests.urls")),
]
if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
