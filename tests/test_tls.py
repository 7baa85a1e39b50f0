"""auditor.tls: one TLS context per CA bundle file, shared by every connection of the session."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from types import SimpleNamespace

import certifi
import pytest
import requests

from auditor import tls
from auditor.tls import SharedContextAdapter


def _request(url: str):
    return requests.Request("GET", url).prepare()


def test_a_bundle_file_gives_one_context_and_no_per_pool_bundle(tmp_path):
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    adapter = SharedContextAdapter()
    _, first = adapter.build_connection_pool_key_attributes(_request("https://pypi.org/simple/x/"), str(bundle))
    _, second = adapter.build_connection_pool_key_attributes(_request("https://files.pythonhosted.org/p/y"),
                                                             str(bundle))
    assert "ca_certs" not in first and first["ssl_context"] is second["ssl_context"]
    context = first["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] > 100           # the bundle's CAs were loaded
    pool = SimpleNamespace(cert_reqs=None, ca_certs=None, ca_cert_dir=None)
    adapter.cert_verify(pool, "https://pypi.org/simple/x/", str(bundle), None)
    assert pool.cert_reqs == "CERT_REQUIRED" and pool.ca_certs is None   # urllib3 must not reload it

    # An edited bundle is read again.
    bundle.write_bytes(bundle.read_bytes() + b"\n")
    os.utime(bundle, ns=(bundle.stat().st_atime_ns, bundle.stat().st_mtime_ns + 1_000_000_000))
    _, edited = adapter.build_connection_pool_key_attributes(_request("https://pypi.org/"), str(bundle))
    assert edited["ssl_context"] is not context


@pytest.mark.parametrize("verify, cert", [(True, None), (False, None), ("BUNDLE", "client.pem")],
                         ids=["default-store", "no-verify", "client-cert"])
def test_other_trust_settings_keep_requests_own_path(verify, cert):
    adapter = SharedContextAdapter()
    plain = requests.adapters.HTTPAdapter()
    verify = certifi.where() if verify == "BUNDLE" else verify
    request = _request("https://pypi.org/simple/x/")
    assert adapter.build_connection_pool_key_attributes(request, verify, cert) == \
        plain.build_connection_pool_key_attributes(request, verify, cert)


@pytest.mark.network
def test_many_connections_load_the_bundle_once(monkeypatch, tmp_path):
    """Through the HttpClient, as a machine with REQUESTS_CA_BUNDLE set: several connections to
    two hosts, one context built."""
    from concurrent.futures import ThreadPoolExecutor

    from auditor.http import HttpClient

    # The machine's own bundle when it has one (a TLS-inspecting proxy's CA is only there).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
    monkeypatch.setattr(tls, "_CONTEXTS", {})
    built = []
    real = ssl.SSLContext.load_verify_locations
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations",
                        lambda self, *a, **k: built.append(a or k) or real(self, *a, **k))
    http = HttpClient(cache_root=tmp_path, retries=1)
    urls = [f"https://pypi.org/simple/{name}/" for name in ("six", "idna", "certifi", "packaging", "pip", "wheel")]
    with ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda url: http.get(url, accept="application/vnd.pypi.simple.v1+json").body, urls))
    assert all(b.startswith(b"{") for b in bodies)
    assert len(built) == 1 and len(tls._CONTEXTS) == 1
