from django.urls import path

from . import views

urlpatterns = [
    path("datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<str:pk>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<str:pk>/history/", views.DatasetHistoryView.as_view(), name="dataset-history"),
    path("datasets/<str:pk>/release/", views.release, name="dataset-release"),
    path("datasets/<str:pk>/publish/", views.publish, name="dataset-publish"),
    path("datasets/<str:pk>/unpublish/", views.unpublish, name="dataset-unpublish"),
    path("datasets/<str:pk>/invalidate/", views.invalidate, name="dataset-invalidate"),
    path("datasets/<str:pk>/reactivate/", views.reactivate, name="dataset-reactivate"),
    path("datasets/<str:pk>/new-version/", views.new_version, name="dataset-new-version"),
]
