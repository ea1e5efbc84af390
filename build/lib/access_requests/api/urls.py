from django.urls import path

from . import views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<str:code>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path(
        "projects/<str:code>/members/",
        views.ProjectMembersView.as_view(),
        name="project-members",
    ),
    path(
        "projects/<str:code>/members/<str:username>/",
        views.ProjectMemberView.as_view(),
        name="project-member",
    ),
    path("access-requests/", views.AccessRequestListView.as_view(), name="request-list"),
    path(
        "access-requests/<int:pk>/", views.AccessRequestDetailView.as_view(), name="request-detail"
    ),
    path("access-requests/<int:pk>/submit/", views.submit, name="request-submit"),
    path(
        "access-requests/<int:pk>/ethics-document/",
        views.EthicsDocumentView.as_view(),
        name="request-ethics-document",
    ),
    path("access-requests/<int:pk>/close/", views.close, name="request-close"),
    path(
        "access-requests/<int:pk>/parts/<slug:organisation>/<str:action>/",
        views.PartActionView.as_view(),
        name="request-part-action",
    ),
    path("entitlements/", views.EntitlementListView.as_view(), name="entitlement-list"),
    path("entitlements/<int:pk>/revoke/", views.revoke, name="entitlement-revoke"),
    path("entitlements/<int:pk>/visa/", views.visa, name="entitlement-visa"),
    path("entitlements/<int:pk>/renew/", views.renew, name="entitlement-renew"),
    path("passport/jwks", views.jwks, name="passport-jwks"),
    path("notices/", views.NoticeListView.as_view(), name="notice-list"),
    path("notices/<int:pk>/read/", views.read_notice, name="notice-read"),
]
