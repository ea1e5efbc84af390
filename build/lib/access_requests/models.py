from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# Project codes name OIDC groups (PROJECT-<code>) and sandboxes: letters, digits, - and _.
PROJECT_CODE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$",
    "A project code is 2 to 64 letters, digits, - or _, starting with a letter or digit.",
)


class Project(models.Model):
    """The tenant of data use: access is granted to a project, and its members use the data
    together in the project's sandbox."""

    code = models.CharField(max_length=64, unique=True, validators=[PROJECT_CODE])
    title = models.CharField(max_length=300)
    purpose = models.TextField(help_text="What the project will do with the data.")
    principal_investigator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects_led"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class ProjectMember(models.Model):
    """A member added on the hub; members also come from OIDC groups (PROJECT-<code>)."""

    class Role(models.TextChoices):
        PI = "pi", "Principal investigator"
        MEMBER = "member", "Member"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    added = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project.code} ({self.role})"


class Committee(models.Model):
    """An organisation's data access committee: its members are the organisation's
    committee_member role holders; this row holds how they decide."""

    class Rule(models.TextChoices):
        ONE_APPROVER = "one_approver", "One approver: any member decides"
        MAJORITY = "majority", "Quorum and majority: the chair decides after the vote"

    organisation = models.OneToOneField(
        "hub.Organisation", on_delete=models.CASCADE, related_name="committee"
    )
    rule = models.CharField(max_length=16, choices=Rule.choices, default=Rule.ONE_APPROVER)
    quorum = models.PositiveSmallIntegerField(
        default=1, help_text="Votes (yes or no) needed before a decision, under the majority rule."
    )
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Committee of {self.organisation}"


class AccessRequest(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        UNDER_REVIEW = "under_review", "Under review"
        APPROVED = "approved", "Approved"
        PARTIALLY_APPROVED = "partially_approved", "Partially approved"
        REJECTED = "rejected", "Rejected"
        RETURNED = "returned", "Returned for changes"
        CLOSED = "closed", "Closed"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    state = models.CharField(max_length=24, choices=State.choices, default=State.DRAFT)
    purpose = models.TextField(blank=True)
    purpose_duo = models.JSONField(default=list, blank=True)
    # ICD-10 codes of the diseases studied, for disease-specific research (DUO:0000007).
    purpose_icd10 = models.JSONField(default=list, blank=True)
    duration_days = models.PositiveIntegerField(default=365)
    ethics_reference = models.CharField(max_length=200, blank=True)
    ethics_document = models.FileField(upload_to="ethics/%Y/", blank=True)
    # A renewal asks to extend this entitlement; its approval moves the end date.
    renewal_of = models.ForeignKey(
        "Entitlement", null=True, blank=True, on_delete=models.PROTECT, related_name="renewals"
    )
    created = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Request {self.pk} of {self.project.code} ({self.state})"


class RequestPart(models.Model):
    """The part of a request one organisation's committee decides; it sees only this."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the committee"
        UNDER_REVIEW = "under_review", "Under review"
        DECIDED = "decided", "Decided"
        RETURNED = "returned", "Returned for changes"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="parts")
    organisation = models.ForeignKey("hub.Organisation", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "organisation__name"]
        constraints = [
            models.UniqueConstraint(fields=["request", "organisation"], name="one_part_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.request} for {self.organisation}"


class RequestItem(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="items")
    part = models.ForeignKey(
        RequestPart, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    dataset = models.ForeignKey("catalogue.Dataset", on_delete=models.PROTECT, related_name="+")
    terms_accepted = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    conditions = models.TextField(blank=True)
    end_date = models.DateField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["request", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "dataset"], name="one_item_per_dataset")
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id} in {self.request_id} ({self.state})"


class Vote(models.Model):
    class Choice(models.TextChoices):
        YES = "yes", "Yes"
        NO = "no", "No"
        ABSTAIN = "abstain", "Abstain"

    part = models.ForeignKey(RequestPart, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["part", "voter"], name="one_vote_each")]

    def __str__(self) -> str:
        return f"{self.voter} voted {self.choice}"


class ConflictOfInterest(models.Model):
    part = models.ForeignKey(RequestPart, on_delete=models.CASCADE, related_name="conflicts")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["part", "member"], name="one_declaration_each")
        ]

    def __str__(self) -> str:
        return f"{self.member} declared a conflict"


class RequestEvent(models.Model):
    """The request's timeline: who did what to it (or to a part of it), when and why."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="events")
    part = models.ForeignKey(
        RequestPart, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=24)
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_state}->{self.to_state}"


class Entitlement(models.Model):
    """A project's right to use a dataset from start to end under conditions: what the
    sandbox obeys."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="entitlements")
    dataset = models.ForeignKey("catalogue.Dataset", on_delete=models.PROTECT, related_name="+")
    item = models.OneToOneField(RequestItem, on_delete=models.PROTECT, related_name="entitlement")
    start = models.DateField()
    end = models.DateField()
    conditions = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    ended_reason = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "end"]
        indexes = [models.Index(fields=["state", "end"])]

    def __str__(self) -> str:
        return f"{self.project.code} -> {self.dataset_id} until {self.end} ({self.state})"


class Notice(models.Model):
    """An in-app notice (also sent by e-mail when the person has an address)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    request = models.ForeignKey(
        AccessRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="notices"
    )
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"to {self.user}: {self.text[:40]}"


class Message(models.Model):
    """The thread between a committee and the requesters about one part of a request."""

    part = models.ForeignKey(RequestPart, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:40]}"
