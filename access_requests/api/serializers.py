from rest_framework import serializers

from hub.paging import PageSerializer

from .. import selectors
from ..models import Project, ProjectMember


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices)
    source = serializers.ChoiceField(
        choices=[("hub", "added on the hub"), ("oidc", "an OIDC group")]
    )


class ProjectSerializer(serializers.ModelSerializer):
    principal_investigator = serializers.CharField(source="principal_investigator.username")
    members = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["code", "title", "purpose", "principal_investigator", "members", "created"]

    def get_members(self, project: Project) -> list[dict]:
        return MemberSerializer(selectors.members(project), many=True).data


class ProjectWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)
    purpose = serializers.CharField()


class MemberWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=ProjectMember.Role.choices, default="member")


class ProjectPageSerializer(PageSerializer):
    results = ProjectSerializer(many=True)
