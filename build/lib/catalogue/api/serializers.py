from rest_framework import serializers

from hub.paging import PageSerializer

from .. import selectors
from ..models import AccessRights, Dataset, LifecycleEvent


class OrganisationRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class DatasetSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    previous_version = serializers.UUIDField(source="previous_version_id", read_only=True)
    url = serializers.SerializerMethodField()
    dcat = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "url",
            "dcat",
            "identifier",
            "organisation",
            "title",
            "description",
            "version",
            "previous_version",
            "state",
            "license",
            "contact_name",
            "contact_email",
            "authors",
            "keywords",
            "access_rights",
            "duo_terms",
            "number_of_subjects",
            "number_of_studies",
            "modalities",
            "body_parts",
            "diagnoses",
            "sex_counts",
            "age_min",
            "age_max",
            "manufacturers",
            "size_bytes",
            "doi",
            "released_at",
            "published_at",
            "created",
            "modified",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return self.context["request"].build_absolute_uri(obj.get_absolute_url())

    def get_dcat(self, obj) -> str:
        return self.context["request"].build_absolute_uri(f"/catalogue/datasets/{obj.pk}.ttl")


class DatasetDetailSerializer(DatasetSerializer):
    next_versions = serializers.SerializerMethodField()
    studies = serializers.JSONField(read_only=True)
    zenodo = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = DatasetSerializer.Meta.fields + ["studies", "next_versions", "zenodo"]
        read_only_fields = fields

    def get_next_versions(self, obj) -> list[str]:
        return [str(pk) for pk in obj.next_versions.values_list("pk", flat=True)]

    def get_zenodo(self, obj) -> dict | None:
        sync = selectors.pending_doi_sync(obj)
        if sync is None:
            return None
        return {"pending": sync.wanted, "attempts": sync.attempts, "last_error": sync.last_error}


class DatasetWriteSerializer(serializers.Serializer):
    """Fields a provider sets; type checks here, domain rules in services.clean_fields."""

    organisation = serializers.SlugField(required=False, help_text="Slug; required on create.")
    identifier = serializers.CharField(max_length=255, required=False, allow_blank=True)
    title = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(required=False)
    version = serializers.CharField(max_length=32, required=False)
    license = serializers.URLField(max_length=500, required=False, allow_blank=True)
    contact_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    authors = serializers.ListField(child=serializers.DictField(), required=False, max_length=200)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )
    access_rights = serializers.ChoiceField(choices=AccessRights.choices, required=False)
    duo_terms = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=50
    )
    number_of_subjects = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    number_of_studies = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    modalities = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=50
    )
    body_parts = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )
    diagnoses = serializers.ListField(
        child=serializers.CharField(max_length=16), required=False, max_length=50
    )
    sex_counts = serializers.DictField(child=serializers.IntegerField(min_value=0), required=False)
    age_min = serializers.IntegerField(min_value=0, max_value=150, required=False, allow_null=True)
    age_max = serializers.IntegerField(min_value=0, max_value=150, required=False, allow_null=True)
    manufacturers = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    size_bytes = serializers.IntegerField(min_value=0, required=False)
    studies = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=100_000
    )


class InvalidateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class NewVersionSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=32, required=False, allow_blank=True)


class LifecycleEventSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", default=None, read_only=True)

    class Meta:
        model = LifecycleEvent
        fields = ["action", "from_state", "to_state", "by", "at", "note"]


class FacetCountSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()
    label = serializers.CharField()


class SearchResultSerializer(PageSerializer):
    results = DatasetSerializer(many=True)
    facets = serializers.DictField(child=FacetCountSerializer(many=True))
