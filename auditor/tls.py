"""One TLS context per CA bundle for every connection of ft-audit's HTTP session.

When the trust store is a bundle file (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, as on machines
behind a TLS-inspecting proxy, or `verify=PATH`), requests hands the path to urllib3, which
builds a fresh SSLContext and loads the whole bundle for *every new connection*: 0.2 MB of PEM,
~28 ms of CPU each. A cold `requirements` run opens a few dozen connections (two hosts, many
worker threads), so a second of its CPU went to re-reading the same file. requests documents the
way to use one context instead (HTTPAdapter.build_connection_pool_key_attributes): supply
"ssl_context" and drop the per-pool "ca_certs". With `verify=True` requests already shares its
default context, and nothing here changes; a client certificate also leaves requests' path alone.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

from requests.adapters import HTTPAdapter

_CONTEXTS: dict[tuple[str, int], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()     # the first requests of a run come from many threads at once


def context_for_bundle(path: str, mtime_ns: int) -> ssl.SSLContext:
    """An SSLContext as urllib3 builds one for a connection (certificate and host name checked),
    with the bundle at `path` loaded once. Keyed by the file's mtime too, so an edited bundle is
    read again."""
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get((path, mtime_ns))
        if context is None:
            from urllib3.util.ssl_ import create_urllib3_context

            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            context.load_verify_locations(cafile=path)
            _CONTEXTS[(path, mtime_ns)] = context
        return context


def _bundle_file(verify: Any, cert: Any) -> str | None:
    """The CA bundle file `verify` names, when this adapter should share a context for it."""
    if cert or not isinstance(verify, str) or not os.path.isfile(verify):
        return None
    return verify


class SharedContextAdapter(HTTPAdapter):
    """HTTPAdapter that uses context_for_bundle for a bundle-file `verify` (see the module doc)."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        bundle = _bundle_file(verify, cert)
        if bundle is not None and request.url.lower().startswith("https:"):
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs["ssl_context"] = context_for_bundle(bundle, os.stat(bundle).st_mtime_ns)
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        if _bundle_file(verify, cert) is not None and url.lower().startswith("https"):
            # requests sets the bundle's path on the pool, and urllib3 would load it into the
            # shared context again for each connection; the context already trusts it.
            conn.ca_certs = None
