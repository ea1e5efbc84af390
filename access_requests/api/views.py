"""Projects: researchers create them; members read theirs; the principal investigator
manages who is in."""

from __future__ import annotations

from django.core.paginator import Paginator
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.api import validated
from hub.paging import api_page, query_page

from .. import selectors, services
from .serializers import (
    MemberWriteSerializer,
    ProjectPageSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
)

PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


class ProjectListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ProjectPageSerializer, summary="Your projects", operation_id="projects_list"
    )
    def get(self, request):
        number, size = query_page(
            request.query_params, default_page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE
        )
        paginator = Paginator(selectors.projects_of(request.user).order_by("code"), size)
        page = paginator.get_page(number)
        return Response(
            api_page(
                request,
                total=paginator.count,
                page=page.number,
                pages=paginator.num_pages,
                page_size=size,
                results=ProjectSerializer(page.object_list, many=True).data,
            )
        )

    @extend_schema(
        request=ProjectWriteSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project (researchers); you become its principal investigator",
    )
    def post(self, request):
        project = services.create_project(
            by=request.user, **validated(ProjectWriteSerializer, request)
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ProjectSerializer,
        summary="One of your projects",
        operation_id="projects_retrieve",
    )
    def get(self, request, code):
        return Response(ProjectSerializer(selectors.get_project(request.user, code)).data)


class ProjectMembersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MemberWriteSerializer,
        responses={200: ProjectSerializer},
        summary="Add a member, or name the principal investigator (the PI only)",
    )
    def post(self, request, code):
        project = selectors.get_project(request.user, code)
        data = validated(MemberWriteSerializer, request)
        user = selectors.user_by_username(data["username"])
        services.add_member(project=project, by=request.user, user=user, role=data["role"])
        project.refresh_from_db()
        return Response(ProjectSerializer(project).data)


class ProjectMemberView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Remove a member (the PI only)")
    def delete(self, request, code, username):
        project = selectors.get_project(request.user, code)
        user = selectors.user_by_username(username)
        services.remove_member(project=project, by=request.user, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
