"""Network namespaces, veth pairs, throwaway users and firewall rules for the
transparent-interception tests (tests/integration/test_interception*.py).

Everything is created with a name unique to this test run (the pid) and removed by
`Lab.cleanup()`, which the fixtures call as a finalizer, also when a test fails. The
addresses (198.18.0.0/15, and fd00:198:18::/48 for IPv6) exist only inside these
namespaces; nothing is routed off the machine.

`Netns.entered()` moves the calling thread into a namespace for the length of a `with`
block (setns(2) on this thread only), so that a sensor started there (Popen forks from
this thread), its readiness check (/proc/net/tcp is the namespace's), its /metrics and
a ScriptedServer's listening socket all live in that namespace, with no change to the
harness.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def missing_tools() -> str | None:
    """Why the namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, nft/iptables rules, a throwaway user)"
    for tool in ("ip", "iptables", "ip6tables", "nft", "useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (scripts/install-deps.sh installs iptables, nftables, iproute2)"
    # Root in a container without CAP_SYS_ADMIN cannot make namespaces at all.
    probe = f"ssn-probe-{os.getpid()}"
    r = sh("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace here: {r.stderr.strip()}"
    sh("ip", "netns", "del", probe, check=False)
    return None


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Netns:
    def __init__(self, name: str):
        self.name = name

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    @contextlib.contextmanager
    def entered(self):
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"/var/run/netns/{self.name}")
            yield self
        finally:
            try:
                if _libc.setns(back, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
            finally:
                os.close(back)


class Lab:
    """The namespaces, links, users and rules one test module creates; cleanup() undoes all."""

    def __init__(self, tag: str):
        self.tag = f"{tag}{os.getpid() % 100000}"
        self.namespaces: list[Netns] = []
        self.users: list[str] = []
        self.rules: list[tuple[Netns, list[str]]] = []  # (where, argv that undoes it)

    def ns(self, short: str) -> Netns:
        n = Netns(f"ssn-{self.tag}-{short}")
        sh("ip", "netns", "add", n.name)
        self.namespaces.append(n)
        n.run("ip", "link", "set", "lo", "up")
        return n

    def link(self, a: Netns, a_addrs: list[str], b: Netns, b_addrs: list[str]) -> tuple[str, str]:
        """A veth pair between a and b with the given addresses (CIDR); returns the names."""
        ia, ib = self._ifname(a, b), self._ifname(b, a)
        sh("ip", "link", "add", ia, "netns", a.name, "type", "veth", "peer", "name", ib, "netns", b.name)
        for ns, ifname, addrs in ((a, ia, a_addrs), (b, ib, b_addrs)):
            for addr in addrs:
                # nodad: an IPv6 address is usable at once, not after duplicate detection.
                ns.run("ip", "addr", "add", addr, "dev", ifname, *(["nodad"] if ":" in addr else []))
            ns.run("ip", "link", "set", ifname, "up")
        return ia, ib

    @staticmethod
    def _ifname(a: Netns, b: Netns) -> str:
        return f"{a.name.rsplit('-', 1)[1]}-{b.name.rsplit('-', 1)[1]}"[:15]

    def user(self, short: str) -> tuple[str, int]:
        name = f"ssn{short}{self.tag}"[:31]
        sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
        self.users.append(name)
        return name, int(sh("id", "-u", name).stdout.strip())

    def nft(self, ns: Netns, family: str, table: str, script: str) -> None:
        """Loads `script` (nft syntax, inside `table FAMILY TABLE { ... }`) into ns."""
        r = subprocess.run(["ip", "netns", "exec", ns.name, "nft", "-f", "-"],
                           input=f"table {family} {table} {{\n{script}\n}}\n", capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"nft in {ns.name} failed: {r.stderr.strip()}")
        self.rules.append((ns, ["nft", "delete", "table", family, table]))

    def ipt(self, ns: Netns, tool: str, *rule: str) -> None:
        """`tool -t TABLE -A CHAIN ...` in ns; undone with -D."""
        ns.run(tool, *rule)
        undo = [tool] + ["-D" if r == "-A" else r for r in rule]
        self.rules.append((ns, undo))

    def cmd(self, ns: Netns, argv: list[str], undo: list[str]) -> None:
        """Any command in ns (`ip rule add ...`), with the one that undoes it."""
        ns.run(*argv)
        self.rules.append((ns, undo))

    def mark(self) -> int:
        return len(self.rules)

    def rollback(self, mark: int) -> list[str]:
        """Undo what was added since mark(), newest first (a test's own rules)."""
        errors = []
        while len(self.rules) > mark:
            ns, undo = self.rules.pop()
            r = ns.run(*undo, check=False)
            if r.returncode != 0:
                errors.append(f"{' '.join(undo)}: {r.stderr.strip()}")
        return errors

    def cleanup(self) -> list[str]:
        errors = self.rollback(0)
        # Deleting a namespace removes its links, addresses, routes and rules with it.
        for ns in reversed(self.namespaces):
            r = sh("ip", "netns", "del", ns.name, check=False)
            if r.returncode != 0:
                errors.append(f"ip netns del {ns.name}: {r.stderr.strip()}")
        self.namespaces.clear()
        for u in self.users:
            r = sh("userdel", u, check=False)
            if r.returncode != 0:
                errors.append(f"userdel {u}: {r.stderr.strip()}")
        self.users.clear()
        return errors


def write_public(path: Path, data: bytes) -> Path:
    """A file the throwaway user can read (pytest's tmp dirs are 0700 root)."""
    path.write_bytes(data)
    os.chmod(path, 0o644)
    return path
