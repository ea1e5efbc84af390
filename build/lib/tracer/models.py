import uuid

from django.db import models

from . import canonical


class Action(models.TextChoices):
    CREATE_DATASET = "CREATE_DATASET"
    UPDATE_DATASET = "UPDATE_DATASET"
    USE_DATASETS = "USE_DATASETS"
    HARVEST = "HARVEST"
    REQUEST_SUBMITTED = "REQUEST_SUBMITTED"
    DECISION = "DECISION"
    ENTITLEMENT_GRANTED = "ENTITLEMENT_GRANTED"
    ENTITLEMENT_REVOKED = "ENTITLEMENT_REVOKED"
    SANDBOX_STARTED = "SANDBOX_STARTED"
    SANDBOX_STOPPED = "SANDBOX_STOPPED"
    EXPORT_RELEASED = "EXPORT_RELEASED"


class UpdateDetail(models.TextChoices):
    """What an UPDATE_DATASET changed (CHAIMELEON's `details`, plus METADATA_UPDATED)."""

    RELEASE = "RELEASE"
    PUBLISH = "PUBLISH"
    UNPUBLISH = "UNPUBLISH"
    INVALIDATE = "INVALIDATE"
    REACTIVATE = "REACTIVATE"
    LICENSE_UPDATED = "LICENSE_UPDATED"
    PID_UPDATED = "PID_UPDATED"
    METADATA_UPDATED = "METADATA_UPDATED"


class ChainContract(models.Model):
    """The anchoring contract on one chain, deployed by the hub or named in settings."""

    chain_id = models.PositiveBigIntegerField()
    genesis_hash = models.CharField(max_length=66)
    address = models.CharField(max_length=42)
    deployed_in_tx = models.CharField(max_length=66, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "genesis_hash", "address"], name="one_row_per_contract"
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} on chain {self.chain_id}"


class AnchorBatch(models.Model):
    """A Merkle tree over consecutive pending traces; its root goes on chain once.

    Prepared (traces, root and proofs committed) before any chain call, so a
    worker that dies mid-way leaves a batch the next run finishes instead of
    building another: the contract refuses a second root for the same number.
    """

    class Status(models.TextChoices):
        PREPARED = "prepared", "Waiting for the chain"
        ANCHORED = "anchored", "Anchored"

    number = models.PositiveBigIntegerField(unique=True, help_text="The batch id on chain.")
    root = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREPARED)
    contract = models.ForeignKey(ChainContract, null=True, on_delete=models.PROTECT)
    tx_hash = models.CharField(max_length=66, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    anchored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"batch {self.number} ({self.size} traces, {self.status})"


class Trace(models.Model):
    """One governance action: identifiers and content hashes only, never a name."""

    # Internal order of recording; the public identifier is `uuid`.
    seq = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    version = models.PositiveSmallIntegerField(default=canonical.FORMAT_VERSION)
    recorded_at = models.DateTimeField(db_index=True)
    caller = models.CharField(max_length=100, db_index=True)
    user_pseudonym = models.CharField(max_length=64, blank=True, db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    details = models.CharField(max_length=32, blank=True)
    dataset_ids = models.JSONField(default=list)
    resources = models.JSONField(default=list)
    tool_name = models.CharField(max_length=100, blank=True)
    tool_version = models.CharField(max_length=50, blank=True)
    subject_id = models.CharField(max_length=100, blank=True)
    leaf_hash = models.CharField(max_length=64)

    batch = models.ForeignKey(
        AnchorBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="traces"
    )
    leaf_index = models.PositiveIntegerField(null=True, blank=True)
    proof = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["batch", "seq"], name="tracer_pending")]

    def __str__(self) -> str:
        return f"{self.action} {self.details} {self.uuid}".replace("  ", " ")

    def document(self) -> dict:
        return canonical.trace_document(
            trace_id=str(self.uuid),
            version=self.version,
            timestamp=self.recorded_at,
            caller=self.caller,
            user=self.user_pseudonym,
            action=self.action,
            details=self.details,
            dataset_ids=self.dataset_ids,
            resources=self.resources,
            tool_name=self.tool_name,
            tool_version=self.tool_version,
            subject_id=self.subject_id,
        )

    def computed_leaf_hash(self) -> str:
        return canonical.document_leaf(self.document()).hex()


class TraceDataset(models.Model):
    """Which datasets (and so which providers) a trace concerns, for filtering and access.

    The organisation is resolved when the trace is recorded; a dataset unknown to
    the catalogue (an external component's id) has none.
    """

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="dataset_refs")
    dataset_id = models.CharField(max_length=100, db_index=True)
    organisation = models.ForeignKey(
        "hub.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["organisation", "trace"], name="tracer_by_provider")]

    def __str__(self) -> str:
        return f"{self.trace_id} -> {self.dataset_id}"
