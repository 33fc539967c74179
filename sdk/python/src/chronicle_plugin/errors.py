"""The exceptions a plugin raises or catches."""


class PluginConnectivityError(Exception):
    """Raise from `initialize()` when a dependency is unreachable.

    The host marks the plugin `degraded` and retries `initialize` later, instead of marking it
    `failed` as it does for any other exception.
    """


class ServiceError(Exception):
    """The host refused or could not serve a service call (database, LLM, context.services).

    `code` is the host's JSON-RPC error code, comparable with `chronicle_plugin.protocol.ErrorCode`
    (-32030 PERMISSION_DENIED, a permission the plugin lacks; -32031 SERVICE_UNAVAILABLE, a
    service that is not available; -32032 SERVICE_INVALID_REQUEST, a request that cannot be
    served as asked; -32033 SERVICE_FAILED, a service that failed); `message` is the host's text, which for a denied permission names
    the permission to add to config/plugins.yml.
    """

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
