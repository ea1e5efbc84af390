from django.apps import AppConfig


class TracerConfig(AppConfig):
    name = "tracer"
    verbose_name = "Tracer"
    default_auto_field = "django.db.models.BigAutoField"
