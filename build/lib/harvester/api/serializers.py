from rest_framework import serializers

from hub.paging import PageSerializer

from ..models import HarvestJob, HarvestRecord, Node


class NodeSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField()
    last_job = serializers.SerializerMethodField()

    class Meta:
        model = Node
        fields = [
            "id",
            "url",
            "name",
            "organisation",
            "base_url",
            "mode",
            "schedule_minutes",
            "auto_release",
            "enabled",
            "mappings",
            "push_token_prefix",
            "next_harvest_at",
            "created",
            "last_job",
        ]

    def get_url(self, node: Node) -> str:
        return self.context["request"].build_absolute_uri(node.get_absolute_url())

    def get_last_job(self, node: Node) -> str | None:
        job = node.jobs.first()
        return str(job.pk) if job else None


class NodeWriteSerializer(serializers.Serializer):
    organisation = serializers.SlugField(help_text="The slug of the node's organisation.")
    name = serializers.CharField(max_length=200)
    base_url = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    mode = serializers.ChoiceField(choices=Node.Mode.choices, default=Node.Mode.PULL)
    schedule_minutes = serializers.IntegerField(min_value=0, max_value=525600, default=1440)
    auto_release = serializers.BooleanField(default=False)
    mappings = serializers.JSONField(required=False, default=dict)


class NodeCreatedSerializer(NodeSerializer):
    push_token = serializers.CharField(help_text="Shown once; the hub keeps only its hash.")

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "push_token"]


class HarvestRecordSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", allow_null=True)

    class Meta:
        model = HarvestRecord
        fields = ["iri", "identifier", "result", "reason", "violations", "warnings", "dataset"]


class HarvestJobSerializer(serializers.ModelSerializer):
    node = serializers.UUIDField(source="node_id")
    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    counts = serializers.DictField(child=serializers.IntegerField())
    rejected_records = serializers.SerializerMethodField()
    records = serializers.SerializerMethodField()

    class Meta:
        model = HarvestJob
        fields = [
            "id",
            "url",
            "node",
            "kind",
            "status",
            "requested_by",
            "created",
            "started",
            "finished",
            "progress",
            "counts",
            "error",
            "catalogue_findings",
            "rejected_records",
            "records",
        ]

    REJECTED_SHOWN = 100

    def get_url(self, job: HarvestJob) -> str:
        return self.context["request"].build_absolute_uri(job.get_absolute_url())

    def get_progress(self, job: HarvestJob) -> dict:
        return {
            "percent": job.progress_percent,
            "pages_done": job.pages_done,
            "pages_not_modified": job.pages_not_modified,
            "records_seen": job.records_seen,
            "total_items": job.total_items,
        }

    def get_rejected_records(self, job: HarvestJob) -> list[dict]:
        """The first rejected records with their reasons; `records` pages through all."""
        rows = job.records.filter(result=HarvestRecord.Result.REJECTED)[: self.REJECTED_SHOWN]
        return HarvestRecordSerializer(rows, many=True).data

    def get_records(self, job: HarvestJob) -> str:
        from django.urls import reverse

        return self.context["request"].build_absolute_uri(
            reverse("api:harvest-job-records", args=[job.pk])
        )


class HarvestRecordPageSerializer(PageSerializer):
    results = HarvestRecordSerializer(many=True)


class NodePageSerializer(PageSerializer):
    results = NodeSerializer(many=True)
