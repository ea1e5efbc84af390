from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .models import ApiToken, Organisation, RoleAssignment


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    fk_name = "organisation"
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "country", "dois_enabled"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RoleAssignmentInline]

    @admin.display(boolean=True, description="DOIs")
    def dois_enabled(self, obj):
        return obj.dois_enabled


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "organisation", "project_code", "source"]
    list_filter = ["role", "organisation", "source"]
    search_fields = ["user__username", "project_code"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token` (the raw key is shown once)."""

    list_display = ["prefix", "user", "name", "created", "last_used", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["prefix", "user", "created", "last_used"]
    fields = ["prefix", "user", "name", "created", "last_used", "revoked"]

    def has_add_permission(self, request):
        return False


class UserRoleInline(admin.TabularInline):
    model = RoleAssignment
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["organisation"]
    verbose_name = "role"


# People and their roles on one page.
User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class HubUserAdmin(UserAdmin):
    inlines = [UserRoleInline]
