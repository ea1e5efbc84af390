from django.contrib import admin

from .models import HarvestJob, Node


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "mode", "base_url", "schedule_minutes", "enabled")
    list_filter = ("mode", "enabled", "organisation")
    readonly_fields = ("push_token_prefix", "next_harvest_at")
    exclude = ("push_token_hash",)


@admin.register(HarvestJob)
class HarvestJobAdmin(admin.ModelAdmin):
    list_display = ("node", "kind", "status", "created", "added", "updated", "rejected")
    list_filter = ("status", "kind")
    readonly_fields = [f.name for f in HarvestJob._meta.fields]

    def has_add_permission(self, request):
        return False
