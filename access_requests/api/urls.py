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
]
