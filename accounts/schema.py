"""OpenAPI description of the Bearer scheme (drf-spectacular loads this from AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A JWT access token from /api/v1/auth/token/, or an API token (evs_…) from /api/v1/api-tokens/."
            ),
        }
