from django.contrib import admin

from .models import AccessRequest, Committee, Entitlement, Project, ProjectMember


class MemberInline(admin.TabularInline):
    model = ProjectMember
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "principal_investigator", "created")
    search_fields = ("code", "title")
    inlines = [MemberInline]


@admin.register(Committee)
class CommitteeAdmin(admin.ModelAdmin):
    list_display = ("organisation", "rule", "quorum", "chair")


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ("pk", "project", "requester", "state", "created")
    list_filter = ("state",)
    readonly_fields = [f.name for f in AccessRequest._meta.fields]

    def has_add_permission(self, request):
        return False  # requests change only through their services, with their history


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    list_display = ("project", "dataset", "start", "end", "state")
    list_filter = ("state",)
    readonly_fields = [f.name for f in Entitlement._meta.fields]

    def has_add_permission(self, request):
        return False
