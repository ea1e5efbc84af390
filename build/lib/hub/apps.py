from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Hub: organisations, people and roles"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extension)
