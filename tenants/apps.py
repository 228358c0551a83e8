from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from revops.lib.throttling import throttle_rates_check
        from tenants import schema  # noqa: F401  (registers the OpenAPI auth extension)

        throttle_rates_check()  # a malformed API_THROTTLE_*_RATE fails at start-up, not per request
