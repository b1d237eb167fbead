"""Typed HTTP client of the PVC v1 API, and the client connection store."""

from pvc.client.api import ApiClient
from pvc.client.connections import (
    API_PREFIX,
    LOCAL,
    Connection,
    add_connection,
    from_config_file,
    from_entry,
    load_store,
    remove_connection,
    resolve,
    save_store,
    store_path,
)
from pvc.client.http import HttpClient, encode_params, error_for_response, message_of

__all__ = [
    "API_PREFIX",
    "LOCAL",
    "ApiClient",
    "Connection",
    "HttpClient",
    "add_connection",
    "encode_params",
    "error_for_response",
    "from_config_file",
    "from_entry",
    "load_store",
    "message_of",
    "remove_connection",
    "resolve",
    "save_store",
    "store_path",
]
