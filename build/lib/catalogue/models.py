import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from hub.errors import InvalidTransition
from hub.models import Organisation


class AccessRights(models.TextChoices):
    """The EU access-right vocabulary."""

    PUBLIC = "PUBLIC", "Public"
    RESTRICTED = "RESTRICTED", "Restricted"
    NON_PUBLIC = "NON_PUBLIC", "Non-public"


class Dataset(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        RELEASED = "released", "Released"
        PUBLISHED = "published", "Published"
        INVALIDATED = "invalidated", "Invalidated"

    # verb -> (states it may start from, state it leads to). Reactivation is not here:
    # its target is whatever state the dataset had before invalidation.
    TRANSITIONS = {
        "release": ({State.DRAFT}, State.RELEASED),
        "publish": ({State.RELEASED}, State.PUBLISHED),
        "unpublish": ({State.PUBLISHED}, State.RELEASED),
        "invalidate": ({State.DRAFT, State.RELEASED, State.PUBLISHED}, State.INVALIDATED),
    }

    # Frozen after release: changing them means a new version.
    DESCRIPTIVE_FIELDS = (
        "title",
        "description",
        "keywords",
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
        "studies",
    )
    # Always editable by the provider; on a published dataset an edit updates its DOI record.
    EDITABLE_FIELDS = (
        "license",
        "contact_name",
        "contact_email",
        "authors",
        "identifier",
        "access_rights",
        "duo_terms",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identifier = models.CharField(
        max_length=255, blank=True, help_text="Persistent identifier given by the provider."
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="datasets"
    )
    source_node = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500)
    description = models.TextField()
    version = models.CharField(max_length=32, default="1")
    previous_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_versions"
    )
    license = models.URLField(max_length=500, blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    authors = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    access_rights = models.CharField(
        max_length=16, choices=AccessRights.choices, default=AccessRights.RESTRICTED
    )
    duo_terms = models.JSONField(default=list, blank=True)

    number_of_subjects = models.PositiveIntegerField(default=0)
    number_of_studies = models.PositiveIntegerField(default=0)
    modalities = models.JSONField(default=list, blank=True)
    body_parts = models.JSONField(default=list, blank=True)
    diagnoses = models.JSONField(default=list, blank=True)
    sex_counts = models.JSONField(default=dict, blank=True)
    age_min = models.PositiveSmallIntegerField(null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(null=True, blank=True)
    manufacturers = models.JSONField(default=list, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    studies = models.JSONField(default=list, blank=True)
    # Every facet value of the dataset as a key "facet=value" (catalogue.facets), derived
    # from the fields above by the services. An object rather than a list, so a facet
    # filter is `has_any_keys` on both databases; on PostgreSQL a GIN index serves it and
    # lets it meet the full-text index in one bitmap scan (migration 0004).
    facet_keys = models.JSONField(default=dict, blank=True, editable=False)

    source_rdf = models.TextField(blank=True)
    normalised_rdf = models.TextField(blank=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    state_before_invalidation = models.CharField(max_length=16, choices=State.choices, blank=True)
    invalidation_reason = models.TextField(blank=True)
    invalidated_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True, db_index=True)

    doi = models.CharField(max_length=100, blank=True)
    zenodo_deposition_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["title"]
        indexes = [
            models.Index(fields=["state", "organisation"]),
            models.Index(fields=["age_min", "age_max"]),
            models.Index(fields=["number_of_subjects"]),
            models.Index(fields=["title"]),
            models.Index(fields=["created", "id"], name="catalogue_dataset_paging"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["previous_version"],
                condition=Q(state="draft"),
                name="one_draft_per_predecessor",
            ),
            models.CheckConstraint(
                name="age_range_ordered",
                condition=Q(age_min__isnull=True)
                | Q(age_max__isnull=True)
                | Q(age_min__lte=models.F("age_max")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def get_absolute_url(self) -> str:
        return reverse("catalogue:dataset", args=[self.pk])

    @property
    def is_frozen(self) -> bool:
        return self.state != self.State.DRAFT and not (
            self.state == self.State.INVALIDATED
            and self.state_before_invalidation == self.State.DRAFT
        )

    def apply_transition(self, verb: str) -> None:
        """Move to the state `verb` leads to, or raise InvalidTransition naming the current state."""
        sources, target = self.TRANSITIONS[verb]
        if self.state not in sources:
            raise InvalidTransition(
                f"Cannot {verb} a dataset that is {self.state}.", current_state=self.state
            )
        self.state = target

    @property
    def sex_labels(self) -> list[str]:
        # None counts a sex as present whose number the source did not give.
        return [sex for sex, n in (self.sex_counts or {}).items() if n is None or n]


class LifecycleEvent(models.Model):
    """The dataset's history, shown on its page: who did what, when and why."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        EDIT = "edit", "Edited"
        RELEASE = "release", "Released"
        PUBLISH = "publish", "Published"
        UNPUBLISH = "unpublish", "Unpublished"
        INVALIDATE = "invalidate", "Invalidated"
        REACTIVATE = "reactivate", "Reactivated"
        NEW_VERSION = "new_version", "New version drafted"
        DOI = "doi", "DOI record updated"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=Action.choices)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.from_state}->{self.to_state}"


class ZenodoSync(models.Model):
    """What the dataset's Zenodo record should become, until a worker has made it so.

    One row per dataset; `wanted` is the latest desired action. A failed attempt
    keeps the row (with the error shown on the dataset page) and is retried.
    """

    class Wanted(models.TextChoices):
        PUBLISH = "publish", "Deposit and publish"
        UPDATE = "update", "Update metadata"
        NEW_VERSION = "new_version", "Publish as new version"
        CLOSE = "close", "Set to closed access"

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="zenodo_sync")
    wanted = models.CharField(max_length=16, choices=Wanted.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_wanted_display()} (attempts: {self.attempts})"
