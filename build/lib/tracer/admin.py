from django.contrib import admin

from .models import AnchorBatch, ChainContract, Trace


class ReadOnlyAdmin(admin.ModelAdmin):
    """Traces are evidence: the admin shows them and never changes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Trace)
class TraceAdmin(ReadOnlyAdmin):
    list_display = ("uuid", "recorded_at", "action", "details", "caller", "batch")
    list_filter = ("action", "details", "caller")
    search_fields = ("uuid", "dataset_ids", "user_pseudonym")
    date_hierarchy = "recorded_at"


@admin.register(AnchorBatch)
class AnchorBatchAdmin(ReadOnlyAdmin):
    list_display = ("number", "size", "status", "tx_hash", "block_number", "anchored_at")
    list_filter = ("status",)


@admin.register(ChainContract)
class ChainContractAdmin(ReadOnlyAdmin):
    list_display = ("address", "chain_id", "created")
