"""PROXY protocol v1/v2 (haproxy.org proxy-protocol.txt) for tests: build headers as a
load balancer would, and parse the header an upstream receives."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src: str, dst: str, sport: int, dport: int) -> bytes:
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src: str, dst: str, sport: int, dport: int, command: int = 0x1, tlvs: bytes = b"") -> bytes:
    if ":" in src:
        fam = 0x21
        addr = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + struct.pack("!HH", sport, dport)
    else:
        fam = 0x11
        addr = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + struct.pack("!HH", sport, dport)
    body = addr + tlvs
    return PROXY_V2_SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(body)) + body


@dataclass
class ProxyHeader:
    version: int          # 1 or 2
    command: str          # "PROXY" or "LOCAL"
    family: str           # "TCP4", "TCP6", "UNKNOWN"
    src_ip: str | None
    dst_ip: str | None
    src_port: int | None
    dst_port: int | None
    raw: bytes
    ver_cmd: int | None = None     # v2 only: the raw version/command byte
    fam_byte: int | None = None    # v2 only: the raw family/protocol byte


class ProxyParseError(ValueError):
    pass


def parse_proxy_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """Parse a PROXY v1/v2 header at the start of data.

    Returns (header, consumed) or None if more bytes are needed; raises ProxyParseError
    if the data is not a valid header."""
    if data.startswith(PROXY_V2_SIG[:min(len(data), 12)]) and data[:1] == b"\r":
        if len(data) < 16:
            return None
        ver_cmd, fam = data[12], data[13]
        (ln,) = struct.unpack("!H", data[14:16])
        if len(data) < 16 + ln:
            return None
        if ver_cmd >> 4 != 2:
            raise ProxyParseError(f"bad v2 version byte {ver_cmd:#x}")
        cmd = {0: "LOCAL", 1: "PROXY"}.get(ver_cmd & 0xF)
        if cmd is None:
            raise ProxyParseError(f"bad v2 command {ver_cmd:#x}")
        body = data[16:16 + ln]
        src = dst = sp = dp = None
        family = "UNKNOWN"
        if fam == 0x11 and ln >= 12:
            family = "TCP4"
            src, dst = str(ipaddress.IPv4Address(body[0:4])), str(ipaddress.IPv4Address(body[4:8]))
            sp, dp = struct.unpack("!HH", body[8:12])
        elif fam == 0x21 and ln >= 36:
            family = "TCP6"
            src, dst = str(ipaddress.IPv6Address(body[0:16])), str(ipaddress.IPv6Address(body[16:32]))
            sp, dp = struct.unpack("!HH", body[32:36])
        return ProxyHeader(2, cmd, family, src, dst, sp, dp, bytes(data[:16 + ln]), ver_cmd, fam), 16 + ln
    if data.startswith(b"PROXY"[:len(data)]):
        end = data.find(b"\r\n")
        if end < 0:
            if len(data) > 107:
                raise ProxyParseError("v1 header longer than 107 bytes")
            return None
        line = data[:end].decode("ascii", "replace")
        parts = line.split(" ")
        if parts[0] != "PROXY" or len(parts) < 2:
            raise ProxyParseError(f"bad v1 header {line!r}")
        if parts[1] == "UNKNOWN":
            return ProxyHeader(1, "PROXY", "UNKNOWN", None, None, None, None, data[:end + 2]), end + 2
        if parts[1] not in ("TCP4", "TCP6") or len(parts) != 6:
            raise ProxyParseError(f"bad v1 header {line!r}")
        try:
            ipaddress.ip_address(parts[2]), ipaddress.ip_address(parts[3])
            sp, dp = int(parts[4]), int(parts[5])
        except ValueError as e:
            raise ProxyParseError(f"bad v1 header {line!r}: {e}") from None
        return ProxyHeader(1, "PROXY", parts[1], parts[2], parts[3], sp, dp, data[:end + 2]), end + 2
    raise ProxyParseError(f"not a PROXY header: {bytes(data[:16])!r}")


