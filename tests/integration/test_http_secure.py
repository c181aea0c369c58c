"""The HTTP endpoint off loopback (SPEC 12): HTTPS with a client certificate required,
basic auth against bcrypt hashes (right, wrong, absent: 401, counted), /healthz open,
plain HTTP refused on the TLS port, the certificate reloaded on SIGHUP, and check-config's
warning for an open endpoint."""
from __future__ import annotations

import base64
import crypt
import http.client
import signal
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from harness import SLOW, free_port, hostport, sensor_binary
from tls_util import Pki


def bcrypt(password: str) -> str:
    h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))
    assert h and h.startswith("$2"), h
    return h


def client_cert(pki: Pki, tmp_path, name: str = "prometheus"):
    key, csr, cert, ext = (tmp_path / f"{name}.{x}" for x in ("key", "csr", "pem", "ext"))
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", pki.ca, "-CAkey", pki.ca_key, "-set_serial", "7",
                    "-days", "2", "-extfile", str(ext), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def get(sensor, path: str, ctx: ssl.SSLContext | None, auth: tuple[str, str] | None = None):
    conn = http.client.HTTPSConnection("127.0.0.1", sensor.http_port, context=ctx, timeout=10 * SLOW) if ctx else \
        http.client.HTTPConnection("127.0.0.1", sensor.http_port, timeout=10 * SLOW)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    out = (r.status, dict(r.getheaders()), r.read().decode())
    conn.close()
    return out


def failures(sensor, ctx, auth) -> float:
    status, _, body = get(sensor, "/metrics", ctx, auth)
    assert status == 200
    for line in body.splitlines():
        if line.startswith("smtp_sensor_http_auth_failures_total"):
            return float(line.split()[-1])
    raise AssertionError("no smtp_sensor_http_auth_failures_total")


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki", "http")


def test_https_client_certificate_and_basic_auth(sensor_factory, pki, tmp_path):
    server = pki.issue("endpoint")
    ccert, ckey = client_cert(pki, tmp_path)
    users = {"prometheus": bcrypt("scrape-me"), "alice": bcrypt("other")}
    sensor = sensor_factory(config={"http": {"tls": {"cert": server.cert, "key": server.key, "client_ca": pki.ca},
                                             "basic_auth": users}})
    good = ssl.create_default_context(cafile=pki.ca)
    good.load_cert_chain(ccert, ckey)
    creds = ("prometheus", "scrape-me")

    # Right user: 200 everywhere; /healthz needs no user at all.
    assert get(sensor, "/metrics", good, creds)[0] == 200
    assert get(sensor, "/flagged", good, creds)[0] == 200
    assert get(sensor, "/healthz", good)[0:3:2] == (200, "ok\n")
    before = failures(sensor, good, creds)
    # Wrong password, unknown user, no header: 401 with the challenge, each counted.
    for auth in (("prometheus", "wrong"), ("mallory", "scrape-me"), None):
        status, headers, _ = get(sensor, "/metrics", good, auth)
        assert status == 401, auth
        assert headers.get("WWW-Authenticate") == 'Basic realm="smtp-sensor"'
    assert failures(sensor, good, creds) == before + 3

    # No client certificate: the handshake fails.
    no_cert = ssl.create_default_context(cafile=pki.ca)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        get(sensor, "/healthz", no_cert)
    # A certificate from another CA: refused too.
    other = Pki(tmp_path / "other", "other")
    ocert, okey = client_cert(other, tmp_path, "stranger")
    bad = ssl.create_default_context(cafile=pki.ca)
    bad.load_cert_chain(ocert, okey)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        get(sensor, "/healthz", bad)

    # Plain HTTP on the TLS port gets no HTTP answer.
    s = socket.create_connection(("127.0.0.1", sensor.http_port), timeout=5 * SLOW)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert not data.startswith(b"HTTP/"), data[:80]
    assert sensor.alive()

    # SIGHUP reloads the certificate: new handshakes see the new one.
    first = ssl.DER_cert_to_PEM_cert(_peer(sensor, good))
    pki.issue("endpoint", cert_path=server.cert, key_path=server.key)
    sensor.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10 * SLOW
    while ssl.DER_cert_to_PEM_cert(_peer(sensor, good)) == first:
        assert time.monotonic() < deadline, "the HTTP certificate was not reloaded"
        time.sleep(0.1)
    assert get(sensor, "/metrics", good, creds)[0] == 200


def _peer(sensor, ctx) -> bytes:
    with socket.create_connection(("127.0.0.1", sensor.http_port), timeout=5 * SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def test_basic_auth_without_tls(sensor_factory):
    sensor = sensor_factory(config={"http": {"basic_auth": {"prometheus": bcrypt("pw")}}})
    assert sensor.http_get("/healthz")[0] == 200
    assert sensor.http_get("/metrics")[0] == 401
    assert get(sensor, "/metrics", None, ("prometheus", "pw"))[0] == 200
    assert get(sensor, "/report?from=2026-01-01&to=2026-01-02", None, ("prometheus", "nope"))[0] == 401


def check_config(tmp_path, http: dict) -> subprocess.CompletedProcess:
    cfg = {"listeners": [{"name": "smtp", "listen": hostport("127.0.0.1", free_port()), "upstream": "127.0.0.1:25"}],
           "http": http, "store": {"enabled": False}, "alerts": {"path": str(tmp_path / "a.jsonl")},
           "transcripts": {"enabled": False}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sensor_binary(), "check-config", "-c", str(p)], capture_output=True, text=True, timeout=30)


def test_check_config_warns_about_an_open_endpoint(tmp_path, pki):
    r = check_config(tmp_path, {"listen": "0.0.0.0:9925"})
    assert r.returncode == 0 and "warning: http.listen 0.0.0.0:9925 is not a loopback address" in r.stderr, r.stderr
    r = check_config(tmp_path, {"listen": "127.0.0.1:9925"})
    assert r.returncode == 0 and "warning" not in r.stderr
    r = check_config(tmp_path, {"listen": "0.0.0.0:9925", "basic_auth": {"p": bcrypt("x")}})
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert "basic_auth: {p: " in r.stdout or "basic_auth:" in r.stdout
    c = pki.issue("cc")
    r = check_config(tmp_path, {"listen": "[::]:9925", "tls": {"cert": c.cert, "key": c.key}})
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    # Bad values: FILE:LINE:COL errors.
    r = check_config(tmp_path, {"listen": "0.0.0.0:9925", "basic_auth": {"p": "plaintext"}})
    assert r.returncode == 1 and "http.basic_auth.p: expected a bcrypt hash" in r.stderr and ".yaml:" in r.stderr
    r = check_config(tmp_path, {"listen": "0.0.0.0:9925", "tls": {"cert": c.cert}})
    assert r.returncode == 1 and "cert and key go together" in r.stderr
    r = check_config(tmp_path, {"listen": "0.0.0.0:9925", "tls": {"cert": c.cert, "key": str(tmp_path / "missing.key")}})
    assert r.returncode == 1 and "http.tls.key" in r.stderr
