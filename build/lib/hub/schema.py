"""OpenAPI description of the hub's own authentication scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "hub.auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, a key printed by `manage.py create_api_token`.",
        }


class NodeTokenScheme(OpenApiAuthenticationExtension):
    target_class = "harvester.api.views.NodeTokenAuthentication"
    name = "NodePushToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <node push token>`, shown once when the node is registered.",
        }
