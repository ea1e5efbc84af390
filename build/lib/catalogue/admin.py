from django.contrib import admin

from .models import Dataset, LifecycleEvent, ZenodoSync


class LifecycleEventInline(admin.TabularInline):
    model = LifecycleEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "from_state", "to_state", "by", "at", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Read-only: lifecycle changes go through the services (pages and API)."""

    list_display = ["title", "organisation", "version", "state", "modified"]
    list_filter = ["state", "organisation", "access_rights"]
    search_fields = ["title", "identifier"]
    inlines = [LifecycleEventInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A dataset leaves by invalidation (traced, with a tombstone), never by deletion.
        return False


@admin.register(ZenodoSync)
class ZenodoSyncAdmin(admin.ModelAdmin):
    list_display = ["dataset", "wanted", "attempts", "last_attempt_at", "last_error"]
    readonly_fields = ["dataset", "wanted", "attempts", "last_attempt_at", "last_error", "created"]
