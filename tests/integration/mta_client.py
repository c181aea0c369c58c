"""A minimal delivering MTA for the interception tests, run as a throwaway user
(`runuser -u USER -- /usr/bin/python3 mta_client.py ...`) so that an owner-match rule
redirects its connections. Reads the message (CRLF lines) from stdin, dot-stuffs it,
delivers it to HOST:PORT with one plain, non-pipelined SMTP dialogue, and prints JSON:
the replies' codes, the peer and local address, and the sha256 of every byte it sent.
"""
import argparse
import base64
import hashlib
import json
import re
import socket
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--sender", default="alice@out.example")
    ap.add_argument("--rcpt", default="bob@remote.example")
    ap.add_argument("--ehlo", default="mta.out.example")
    ap.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    ap.add_argument("--source", help="bind to this address first")
    ap.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    message = sys.stdin.buffer.read()
    sent = hashlib.sha256()
    out = {"codes": [], "sent_sha256": None, "message_sha256": hashlib.sha256(message).hexdigest()}
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    if a.source:
        s.bind((a.source, 0))
    buf = b""

    def reply() -> int:
        nonlocal buf
        while True:
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                code = int(line[:3])
                out["codes"].append(code)
                out.setdefault("texts", []).append(line.decode("latin-1"))
                return code

    def send(data: bytes) -> None:
        sent.update(data)
        s.sendall(data)

    try:
        s.connect((a.host, a.port))
        out["local"] = list(s.getsockname()[:2])
        out["peer"] = list(s.getpeername()[:2])
        if reply() // 100 != 2:
            send(b"QUIT\r\n")
            reply()
            return finish(out, sent, s)
        send(f"EHLO {a.ehlo}\r\n".encode())
        reply()
        if a.auth:
            token = base64.b64encode(f"\0{a.auth[0]}\0{a.auth[1]}".encode()).decode()
            send(f"AUTH PLAIN {token}\r\n".encode())
            reply()
        for line in (f"MAIL FROM:<{a.sender}>", f"RCPT TO:<{a.rcpt}>", "DATA"):
            send(line.encode() + b"\r\n")
            if reply() // 100 not in (2, 3):
                break
        else:
            send(re.sub(rb"(^|\r\n)\.", rb"\1..", message) + b".\r\n")  # dot-stuffed
            reply()
        send(b"QUIT\r\n")
        reply()
    except (OSError, ValueError) as e:
        out["error"] = str(e)
    return finish(out, sent, s)


def finish(out: dict, sent, s: socket.socket) -> int:
    out["sent_sha256"] = sent.hexdigest()
    s.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
