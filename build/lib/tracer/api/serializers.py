"""The tracer's JSON, in CHAIMELEON's tracer names (camelCase), so its clients read ours."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.paging import PageSerializer

from .. import canonical, selectors
from ..models import Action, AnchorBatch, Trace, UpdateDetail
from ..services import MAX_DATASETS, MAX_RESOURCES

STATES = ["pending", "waiting_for_chain", "anchored"]
HASH_NAME = "SHA3-256"
SCHEME = (
    "RFC 9162 Merkle tree, leaf = SHA3-256(0x00||canonical), node = SHA3-256(0x01||left||right)"
)
CONTRACT_FUNCTION = "batch(uint256) returns (bytes32 root, uint64 count, uint64 anchoredAt)"
# CHAIMELEON clients read a single `datasetId` for these actions.
SINGLE_DATASET_ACTIONS = {Action.CREATE_DATASET, Action.UPDATE_DATASET}


def _absolute(request, name: str, trace: Trace) -> str:
    return request.build_absolute_uri(reverse(name, args=[str(trace.uuid)]))


class ResourceSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=100)
    contentType = serializers.CharField(required=False, help_text="HASH (the only one taken).")
    hashType = serializers.CharField(required=False, help_text="SHA3_256 (the only one taken).")
    hash = serializers.CharField(
        max_length=100,
        help_text="The SHA3-256 digest: base64 of the 32 bytes (as CHAIMELEON sends) or 64 hex "
        "digits on input; always hex on output.",
    )


class TraceLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    proof = serializers.URLField(help_text="The public inclusion proof of this trace.")


class TraceSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    version = serializers.IntegerField()
    timestamp = serializers.SerializerMethodField()
    callerId = serializers.CharField(source="caller", help_text="The component that posted it.")
    userId = serializers.CharField(
        source="user_pseudonym", help_text="Pseudonymous user id: only the hub can link it."
    )
    userAction = serializers.ChoiceField(source="action", choices=Action.choices)
    details = serializers.CharField()
    datasetId = serializers.SerializerMethodField()
    datasetsIds = serializers.ListField(source="dataset_ids", child=serializers.CharField())
    resources = ResourceSerializer(many=True)
    toolName = serializers.CharField(source="tool_name")
    toolVersion = serializers.CharField(source="tool_version")
    subjectId = serializers.CharField(source="subject_id")
    leafHash = serializers.CharField(source="leaf_hash")
    status = serializers.SerializerMethodField()
    batch = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_timestamp(self, trace: Trace) -> str:
        return canonical.format_time(trace.recorded_at)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_datasetId(self, trace: Trace) -> str | None:
        if trace.action in SINGLE_DATASET_ACTIONS and trace.dataset_ids:
            return trace.dataset_ids[0]
        return None

    @extend_schema_field(serializers.ChoiceField(choices=STATES))
    def get_status(self, trace: Trace) -> str:
        return selectors.trace_state(trace)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_batch(self, trace: Trace) -> int | None:
        return trace.batch.number if trace.batch_id else None

    @extend_schema_field(TraceLinksSerializer)
    def get_links(self, trace: Trace) -> dict:
        request = self.context["request"]
        return {
            "self": _absolute(request, "api:trace-detail", trace),
            "proof": _absolute(request, "api:trace-proof", trace),
        }


class TraceWriteSerializer(serializers.Serializer):
    """CHAIMELEON's v1 trace body, plus `subjectId`. Types here; content rules in
    tracer.services.record (identifiers and hashes only)."""

    userId = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The external user id; stored only as a pseudonym.",
    )
    userAction = serializers.ChoiceField(choices=Action.choices)
    datasetId = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The dataset of CREATE_DATASET and UPDATE_DATASET.",
    )
    datasetsIds = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_null=True,
        max_length=MAX_DATASETS,
        help_text="The datasets of USE_DATASETS.",
    )
    resources = ResourceSerializer(many=True, required=False, allow_null=True)
    details = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=f"What UPDATE_DATASET changed: {', '.join(UpdateDetail.values)}.",
    )
    toolName = serializers.CharField(
        max_length=50, required=False, allow_blank=True, allow_null=True
    )
    toolVersion = serializers.CharField(
        max_length=50, required=False, allow_blank=True, allow_null=True
    )
    subjectId = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Our extension: the object the action concerns (a request, a project...).",
    )

    def validate_resources(self, value):
        if value is not None and len(value) > MAX_RESOURCES:
            raise serializers.ValidationError(f"At most {MAX_RESOURCES} resources.")
        return value


class TracePageSerializer(PageSerializer):
    results = TraceSerializer(many=True)


# --- the public proof ---------------------------------------------------------------


class MerkleProofSerializer(serializers.Serializer):
    leafIndex = serializers.IntegerField()
    treeSize = serializers.IntegerField()
    auditPath = serializers.ListField(
        child=serializers.CharField(), help_text="Sibling hashes (hex), leaf to root."
    )
    hash = serializers.CharField()
    scheme = serializers.CharField()


class BatchSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="The batch id on chain.")
    root = serializers.CharField(help_text="The Merkle root (hex).")
    size = serializers.IntegerField()
    status = serializers.CharField(help_text="prepared (waiting for the chain) or anchored.")


class AnchorSerializer(serializers.Serializer):
    chainId = serializers.IntegerField()
    contract = serializers.CharField(help_text="The anchoring contract's address.")
    transaction = serializers.CharField(allow_blank=True)
    blockNumber = serializers.IntegerField(allow_null=True)
    contractFunction = serializers.CharField(help_text="Read it to get the batch's root.")


class TraceProofSerializer(serializers.Serializer):
    """Everything a third party needs to check a trace against the chain, and no more."""

    id = serializers.UUIDField(source="uuid")
    status = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    document = serializers.SerializerMethodField()
    canonical = serializers.SerializerMethodField()
    leafHash = serializers.CharField(source="leaf_hash")
    proof = serializers.SerializerMethodField()
    batch = serializers.SerializerMethodField()
    anchor = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=STATES))
    def get_status(self, trace: Trace) -> str:
        return selectors.trace_state(trace)

    def get_message(self, trace: Trace) -> str:
        state = selectors.trace_state(trace)
        if state == "pending":
            return (
                "This trace is recorded and waits to be put in a batch; its proof exists "
                "once the batch is anchored on chain."
            )
        if state == "waiting_for_chain":
            return (
                f"This trace is in batch {trace.batch.number}, which waits for the chain; "
                "its proof appears here once the batch is anchored."
            )
        return (
            f"Anchored in batch {trace.batch.number}: SHA3-256(0x00 || canonical) is leafHash; "
            "auditPath from leafHash leads to the root the contract returns for the batch."
        )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_document(self, trace: Trace) -> dict:
        return trace.document()

    def get_canonical(self, trace: Trace) -> str:
        return canonical.canonical_bytes(trace.document()).decode()

    @extend_schema_field(MerkleProofSerializer(allow_null=True))
    def get_proof(self, trace: Trace) -> dict | None:
        if trace.batch_id is None or trace.batch.status != AnchorBatch.Status.ANCHORED:
            return None
        return {
            "leafIndex": trace.leaf_index,
            "treeSize": trace.batch.size,
            "auditPath": list(trace.proof or []),
            "hash": HASH_NAME,
            "scheme": SCHEME,
        }

    @extend_schema_field(BatchSerializer(allow_null=True))
    def get_batch(self, trace: Trace) -> dict | None:
        if trace.batch_id is None:
            return None
        batch = trace.batch
        return {
            "number": batch.number,
            "root": batch.root,
            "size": batch.size,
            "status": batch.status,
        }

    @extend_schema_field(AnchorSerializer(allow_null=True))
    def get_anchor(self, trace: Trace) -> dict | None:
        batch = trace.batch
        if batch is None or batch.status != AnchorBatch.Status.ANCHORED or batch.contract is None:
            return None
        return {
            "chainId": batch.contract.chain_id,
            "contract": batch.contract.address,
            "transaction": batch.tx_hash,
            "blockNumber": batch.block_number,
            "contractFunction": CONTRACT_FUNCTION,
        }
