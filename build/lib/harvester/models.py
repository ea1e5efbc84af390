import secrets
import uuid

from django.db import models
from django.urls import reverse

from hub.models import Organisation, hash_token


class Node(models.Model):
    """A provider's catalogue endpoint: pulled on a schedule, pushing with its token, or both."""

    class Mode(models.TextChoices):
        PULL = "pull", "Pull (the hub fetches the catalogue)"
        PUSH = "push", "Push (the node sends its records)"
        BOTH = "both", "Pull and push"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="nodes")
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=1000, blank=True, help_text="The DCAT catalogue URL.")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PULL)
    schedule_minutes = models.PositiveIntegerField(
        default=1440, help_text="Pull every this many minutes; 0: only when asked."
    )
    auto_release = models.BooleanField(
        default=False, help_text="New records are released at once instead of entering as drafts."
    )
    # {kind: {local label: standard code}}: the provider's own words (hyperontology.mappings).
    mappings = models.JSONField(default=dict, blank=True)
    push_token_hash = models.CharField(max_length=64, editable=False)
    push_token_prefix = models.CharField(max_length=8, editable=False)
    enabled = models.BooleanField(default=True)
    next_harvest_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["push_token_hash"], name="one_node_per_push_token")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("harvester:node", args=[self.pk])

    @property
    def pulls(self) -> bool:
        return self.mode in (self.Mode.PULL, self.Mode.BOTH)

    @property
    def accepts_push(self) -> bool:
        return self.mode in (self.Mode.PUSH, self.Mode.BOTH)

    @property
    def source_label(self) -> str:
        """What catalogue datasets record as their source (Dataset.source_node)."""
        return f"node:{self.pk}"

    def new_push_token(self) -> str:
        """Set a new token and return it; only its hash is kept."""
        raw = "agn_" + secrets.token_urlsafe(32)
        self.push_token_hash = hash_token(raw)
        self.push_token_prefix = raw[:8]
        return raw


class NodePage(models.Model):
    """What the last successful pull saw at one page URL: the validators for a conditional
    GET, the next page, and the records it held (a 304 page keeps them alive)."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="pages")
    url = models.URLField(max_length=2000)
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    next_url = models.URLField(max_length=2000, blank=True)
    record_iris = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "url"], name="one_page_per_url")]

    def __str__(self) -> str:
        return self.url


class SourceRecord(models.Model):
    """One record a node describes, across runs: its last content hash and verdict, and
    the catalogue dataset (latest version) it feeds."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="records")
    iri = models.CharField(max_length=2000)
    identifier = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64)
    accepted = models.BooleanField(default=True)
    problems = models.JSONField(default=list, blank=True)  # why it was rejected, in words
    dataset = models.ForeignKey(
        "catalogue.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn = models.BooleanField(default=False)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "iri"], name="one_record_per_iri")]

    def __str__(self) -> str:
        return self.identifier or self.iri


class HarvestJob(models.Model):
    class Kind(models.TextChoices):
        PULL = "pull", "Pull"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=150, blank=True)  # a username, or "schedule"
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Progress: pages and records so far, and what the node says it holds (hydra:totalItems).
    pages_done = models.PositiveIntegerField(default=0)
    pages_not_modified = models.PositiveIntegerField(default=0)
    records_seen = models.PositiveIntegerField(default=0)
    total_items = models.PositiveIntegerField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    withdrawn = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Findings on the catalogue itself (not on a dataset): reported, they reject nothing.
    catalogue_findings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.node} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("harvester:job", args=[self.pk])

    @property
    def done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def progress_percent(self) -> int | None:
        """How far a running pull is, when the node says how many records it holds."""
        if self.done:
            return 100
        if not self.total_items:
            return None
        return min(99, round(100 * self.records_seen / self.total_items))

    @property
    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in HarvestRecord.Result.values}


class HarvestRecord(models.Model):
    """One record's outcome in one run, written when the run is applied."""

    class Result(models.TextChoices):
        ADDED = "added", "Added"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REJECTED = "rejected", "Rejected"

    job = models.ForeignKey(HarvestJob, on_delete=models.CASCADE, related_name="records")
    iri = models.CharField(max_length=2000)
    identifier = models.CharField(max_length=255, blank=True)
    result = models.CharField(max_length=16, choices=Result.choices)
    reason = models.TextField(blank=True)
    violations = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    dataset = models.ForeignKey(
        "catalogue.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "result"])]

    def __str__(self) -> str:
        return f"{self.identifier or self.iri}: {self.result}"
