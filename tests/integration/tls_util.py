"""TLS helpers for the integration tests: throwaway certificates made with the openssl CLI,
SSL contexts for the scripted upstream and for clients, STARTTLS from a raw socket, and the
TLS handshake metric.

- Pki(dir): a test CA (EC P-256, valid 2 days) that issues server certificates with
  CN 127.0.0.1 and SAN IP:127.0.0.1, DNS:localhost. `issue(name)` -> Cert(cert, key, ca);
  `Pki(dir, "other")` makes an unrelated CA (for verification failures).
- make_pki(dir) -> TestPki: one CA, a certificate for the sensor, one for the scripted
  upstream, and an unrelated CA.
- server_context(cert) / client_context(ca=None): ssl.SSLContext for a server or a client
  (no verification unless a CA file is given).
- der(cert_path) / peer_der(sock): certificate identity, to see which certificate a peer
  presented.
- starttls(conn, ctx) -> SmtpConn: EHLO already done; sends STARTTLS, expects 220, wraps
  the socket; tls_connect(port, ctx) for implicit TLS.
- handshakes(sensor, side, result) and HandshakeCounts: smtp_sensor_tls_handshakes_total.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import SLOW, SmtpConn, connect

OPENSSL = "openssl"
TLS_METRIC = "smtp_sensor_tls_handshakes_total"


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr}")


@dataclass
class Cert:
    cert: str   # PEM certificate (leaf only; the CA is not a chain member, clients hold it)
    key: str    # PEM private key, unencrypted
    ca: str     # PEM of the CA that issued it

    def read(self) -> tuple[bytes, bytes]:
        return Path(self.cert).read_bytes(), Path(self.key).read_bytes()


class Pki:
    """A throwaway CA in `dir`; everything is written there."""

    def __init__(self, dir: Path, name: str = "test"):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.ca_key = str(self.dir / f"{name}-ca.key")
        self.ca = str(self.dir / f"{name}-ca.pem")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", f"/CN=smtp-sensor {name} test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self._serial = 0

    def issue(self, name: str, cn: str = "127.0.0.1", cert_path: str | None = None,
              key_path: str | None = None) -> Cert:
        """A server certificate for 127.0.0.1/localhost; paths may be given to overwrite files."""
        self._serial += 1
        key = key_path or str(self.dir / f"{name}.key")
        cert = cert_path or str(self.dir / f"{name}.pem")
        csr = self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth\n"
                       "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        # Write to temporary names and rename, so a reload never sees half a file.
        tmp_key, tmp_cert = key + ".new", cert + ".new"
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", tmp_key, "-out", str(csr), "-subj", f"/CN={cn}/O={name}", cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", self.ca, "-CAkey", self.ca_key,
                 "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                 "-extfile", str(ext), "-out", tmp_cert, cwd=self.dir)
        os.replace(tmp_key, key)
        os.replace(tmp_cert, cert)
        return Cert(cert, key, self.ca)


@dataclass
class TestPki:
    ca: Pki
    sensor: Cert      # what the sensor presents to clients in terminate mode
    upstream: Cert    # what the scripted upstream presents
    other_ca: Pki     # unrelated CA: verifying the upstream against it must fail


def make_pki(dir: Path) -> TestPki:
    ca = Pki(dir, "main")
    return TestPki(ca, ca.issue("sensor"), ca.issue("upstream"), Pki(dir, "other"))


# --------------------------------------------------------------------------- contexts

def server_context(cert: Cert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


def client_context(ca: str | None = None) -> ssl.SSLContext:
    """Verifies the peer (name 127.0.0.1) when a CA file is given, else accepts anything."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def der(cert_path: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())


def peer_der(sock: ssl.SSLSocket) -> bytes:
    d = sock.getpeercert(binary_form=True)
    assert d, "peer presented no certificate"
    return d


# --------------------------------------------------------------------------- clients

def starttls(conn: SmtpConn, ctx: ssl.SSLContext, server_hostname: str | None = "127.0.0.1") -> SmtpConn:
    """STARTTLS on an SmtpConn after EHLO; returns a new SmtpConn over the TLS socket."""
    conn.expect("STARTTLS", 220)
    assert not conn.buf, f"bytes after the 220 to STARTTLS: {bytes(conn.buf)!r}"
    conn.sock.settimeout(10 * SLOW)
    tls = ctx.wrap_socket(conn.sock, server_hostname=server_hostname)
    return SmtpConn(tls)


def tls_connect(port: int, ctx: ssl.SSLContext, *, source: str | None = None,
                server_hostname: str | None = "127.0.0.1") -> SmtpConn:
    """Implicit TLS (port 465 style): handshake first, then the caller reads the greeting."""
    s = connect(port, source=source)
    return SmtpConn(ctx.wrap_socket(s, server_hostname=server_hostname))


def close_quietly(conn: SmtpConn | socket.socket) -> None:
    try:
        (conn.sock if isinstance(conn, SmtpConn) else conn).close()
    except OSError:
        pass


# --------------------------------------------------------------------------- metrics

def handshakes(sensor, side: str, result: str, listener: str | None = None) -> float:
    labels = {"side": side, "result": result}
    if listener:
        labels["listener"] = listener
    return sensor.metric(TLS_METRIC, labels, default=0.0)


class HandshakeCounts:
    """All (side, result) handshake counters at one moment; delta() against now."""

    SIDES = ("client", "upstream")
    RESULTS = ("success", "failure", "timeout")

    def __init__(self, sensor, listener: str | None = None):
        self.sensor, self.listener = sensor, listener
        self.before = self._all()

    def _all(self) -> dict[tuple[str, str], float]:
        return {(s, r): handshakes(self.sensor, s, r, self.listener) for s in self.SIDES for r in self.RESULTS}

    def delta(self) -> dict[tuple[str, str], float]:
        """Only the non-zero changes, e.g. {("client", "failure"): 1.0}."""
        now = self._all()
        return {k: now[k] - self.before[k] for k in now if now[k] != self.before[k]}
