from django.urls import path

from . import views

app_name = "access_requests"

urlpatterns = [
    path("basket/", views.basket, name="basket"),
    path("basket/add/", views.basket_add, name="basket-add"),
    path("basket/remove/", views.basket_remove, name="basket-remove"),
    path("projects/", views.project_list, name="projects"),
    path("projects/<str:code>/", views.project_detail, name="project"),
    path("projects/<str:code>/members/", views.project_member_add, name="project-member-add"),
    path(
        "projects/<str:code>/members/<str:username>/remove/",
        views.project_member_remove,
        name="project-member-remove",
    ),
    path("requests/", views.request_list, name="requests"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request-edit"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request-submit"),
    path("requests/<int:pk>/close/", views.request_close, name="request-close"),
    path(
        "requests/<int:pk>/parts/<slug:organisation>/message/",
        views.part_message,
        name="part-message",
    ),
    path("committee/", views.inbox, name="inbox"),
    path("committee/requests/<int:pk>/<slug:organisation>/", views.decision, name="decision"),
    path(
        "committee/requests/<int:pk>/<slug:organisation>/<str:action>/",
        views.decision_action,
        name="decision-action",
    ),
    path("entitlements/<int:pk>/revoke/", views.entitlement_revoke, name="entitlement-revoke"),
    path("entitlements/<int:pk>/renew/", views.entitlement_renew, name="entitlement-renew"),
    path("notices/", views.notice_list, name="notices"),
]
