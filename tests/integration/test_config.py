"""Issue 2: a bad config fails with FILE:LINE:COL for both `run` and `check-config`;
`check-config` on a good config exits 0 and prints the effective config."""
import re
import subprocess
import textwrap

import pytest
import yaml

from harness import REPO_ROOT, SLOW, free_port, is_listening, run_cli, sensor_binary

GOOD_HEAD = """\
listeners:
  - name: smtp
    listen: "127.0.0.1:{port}"
    upstream: "127.0.0.1:{up}"
"""

# (id, body after the listener, 1-based line of the error, allowed 1-based columns, word the message must contain)
BAD = [
    ("unknown-key", "    bogus_key: 1\n", 5, {5}, "bogus_key"),
    ("unknown-top-level-key", "frobnicate: true\n", 5, {1}, "frobnicate"),
    ("wrong-type-int", "    max_connections: lots\n", 5, {5, 22}, "max_connections"),
    ("wrong-type-list", "threads: [1, 2]\n", 5, {1, 10}, "threads"),
    ("bad-duration", "timeouts:\n  idle: 5 parsecs\n", 6, {3, 9}, "idle"),
    ("bad-duration-unit", "timeouts:\n  connect: 10x\n", 6, {3, 12}, "connect"),
    ("bad-enum", "    proxy_protocol_out: v3\n", 5, {5, 25}, "proxy_protocol_out"),
    ("bad-cidr", "    trusted_proxies: [\"10.0.0.0/33\"]\n", 5, {5, 22, 23}, "trusted_proxies"),
]


def _write(tmp_path, body: str, name: str = "smtp-sensor.yaml"):
    path = tmp_path / name
    path.write_text(GOOD_HEAD.format(port=free_port(), up=free_port()) + body)
    return path


def _error_lines(stderr: str, path) -> list[tuple[int, int, str]]:
    rx = re.compile(r"^" + re.escape(str(path)) + r":(\d+):(\d+): (.+)$", re.M)
    return [(int(a), int(b), m) for a, b, m in rx.findall(stderr)]


@pytest.fixture(autouse=True)
def _binary():
    import os
    if not os.path.exists(sensor_binary()):
        pytest.skip("smtp-sensor not built") if not os.environ.get("SMTP_SENSOR_BIN") else \
            pytest.fail(f"SMTP_SENSOR_BIN={sensor_binary()} missing")


@pytest.mark.parametrize("mode", ["check-config", "run"])
@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_config_reports_file_line_col(tmp_path, mode, case):
    _, body, line, cols, word = case
    path = _write(tmp_path, body)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", path.read_text()).group(1))
    try:
        r = run_cli([mode, "-c", str(path)], timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{mode}` with an invalid config did not exit (it is running!)")
    errs = _error_lines(r.stderr, path)
    assert r.returncode == 1, f"exit {r.returncode}; stderr: {r.stderr!r}"
    assert errs, f"no FILE:LINE:COL: line for {path}; stderr was {r.stderr!r}"
    got_line, got_col, msg = errs[0]
    assert got_line == line, f"reported line {got_line}, expected {line}: {errs[0]}\nconfig:\n{path.read_text()}"
    assert got_col in cols, f"reported column {got_col}, expected one of {sorted(cols)}: {errs[0]}"
    assert word in msg, f"message {msg!r} does not name {word!r}"
    assert not is_listening(port)


def test_yaml_syntax_error_reports_position(tmp_path):
    path = _write(tmp_path, "timeouts: { idle: 5m\n")
    for mode in ("check-config", "run"):
        r = run_cli([mode, "-c", str(path)], timeout=20)
        assert r.returncode == 1, (mode, r.returncode, r.stderr)
        errs = _error_lines(r.stderr, path)
        assert errs and errs[0][0] in (5, 6), (mode, r.stderr)


def test_several_errors_each_reported(tmp_path):
    path = _write(tmp_path, "    bogus_key: 1\nthreads: many\ntimeouts:\n  idle: soon\n")
    r = run_cli(["check-config", "-c", str(path)])
    assert r.returncode == 1
    lines = {l for l, _, _ in _error_lines(r.stderr, path)}
    assert {5, 6, 8} <= lines, f"expected errors on lines 5, 6 and 8; stderr: {r.stderr!r}"


def test_missing_file(tmp_path):
    r = run_cli(["check-config", "-c", str(tmp_path / "nope.yaml")])
    assert r.returncode == 1 and "nope.yaml" in r.stderr, r


def test_check_config_good_prints_effective_config(tmp_path):
    path = _write(tmp_path, textwrap.dedent("""\
        threads: 2
        timeouts: { idle: 90s }
        http: { listen: "127.0.0.1:0" }
        alerts: { path: /tmp/smtp-sensor-test-alerts.jsonl }
        deny: ["::1", "2001:db8::/32", 192.0.2.0/24]
        """))
    r = run_cli(["check-config", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.strip(), "check-config printed nothing"
    doc = yaml.safe_load(out)
    assert isinstance(doc, dict), out[:500]
    lst = doc["listeners"][0]
    assert lst["name"] == "smtp" and lst["listen"].startswith("127.0.0.1:")
    # Defaults are filled in ...
    assert "shutdown_grace" in doc["timeouts"] and "max_line" in doc["limits"]
    assert "auth_bruteforce" in doc["detectors"]
    assert lst["max_connections"] == 10000
    # ... and the given values kept.
    assert doc["threads"] == 2
    assert doc["deny"] == ["::1", "2001:db8::/32", "192.0.2.0/24"]  # IPv6 quoted: YAML 1.1 readers parse it
    assert str(doc["timeouts"]["idle"]) in ("90s", "1m30s", "1.5m", "90000ms")
    # The printed config is itself a valid config that says the same thing.
    again = tmp_path / "effective.yaml"
    again.write_text(out)
    r2 = run_cli(["check-config", "-c", str(again)])
    assert r2.returncode == 0, f"the printed effective config does not validate: {r2.stderr}"
    assert yaml.safe_load(r2.stdout) == doc


def test_check_config_empty_file_is_valid(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    r = run_cli(["check-config", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["listeners"][0]["listen"] == "0.0.0.0:2525"
    assert str(doc["timeouts"]["shutdown_grace"]) in ("30s", "30000ms"), doc["timeouts"]


def test_run_bind_failure_exits_nonzero(tmp_path):
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    path = tmp_path / "busy.yaml"
    path.write_text(GOOD_HEAD.format(port=port, up=free_port()) +
                    f"http: {{ listen: \"127.0.0.1:{free_port()}\" }}\n"
                    f"transcripts: {{ enabled: false, path: {tmp_path}/t.log }}\n"
                    f"alerts: {{ path: {tmp_path}/a.jsonl }}\nstore: {{ path: {tmp_path}/s.db }}\n")
    try:
        r = run_cli(["run", "-c", str(path)], timeout=20 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("run kept running although its listen port is taken")
    finally:
        busy.close()
    assert r.returncode != 0
    assert str(port) in r.stderr, r.stderr


@pytest.mark.parametrize("key", ["transcripts.path", "alerts.path", "store.path"])
def test_run_names_the_key_of_a_file_it_cannot_open(tmp_path, key):
    # A path check-config cannot judge (it may run as another user): the start fails
    # naming the key, not "cannot open log file".
    paths = {"transcripts.path": tmp_path / "t.log", "alerts.path": tmp_path / "a.jsonl", "store.path": tmp_path / "s.db"}
    paths[key] = "/proc/nope/x"
    path = tmp_path / "paths.yaml"
    path.write_text(GOOD_HEAD.format(port=free_port(), up=free_port()) +
                    f"http: {{ listen: \"127.0.0.1:{free_port()}\" }}\ncontrol: {{ socket: \"\" }}\n"
                    f"transcripts: {{ enabled: true, path: {paths['transcripts.path']} }}\n"
                    f"alerts: {{ path: {paths['alerts.path']} }}\nstore: {{ path: {paths['store.path']} }}\n")
    assert run_cli(["check-config", "-c", str(path)]).returncode == 0
    r = run_cli(["run", "-c", str(path)], timeout=20 * SLOW)
    assert r.returncode != 0
    assert f"{key} /proc/nope/x: cannot open it:" in r.stderr, r.stderr


def _documented_paths(doc: dict):
    """Each key of the effective config, as the man page names it: `section.key`, a
    listener's keys bare (`tls.mode`), a detector's name and its own keys bare."""
    for top, value in doc.items():
        if top == "listeners":
            for key, v in value[0].items():
                if isinstance(v, dict):
                    yield from (f"{key}.{k}" for k in v)
                else:
                    yield key
        elif top == "detectors":
            for name, body in value.items():
                yield f"detectors.{name}" if not isinstance(body, dict) else name
                if isinstance(body, dict):
                    yield from (k for k in body if k not in ("enabled", "action", "window"))
        elif isinstance(value, dict):
            for key, v in value.items():
                if isinstance(v, dict) and key != "basic_auth":
                    yield from (f"{top}.{key}.{k}" for k in v)
                else:
                    yield f"{top}.{key}"
        else:
            yield top


def test_every_key_is_in_the_man_page_and_the_example_config(tmp_path):
    """The keys come from the binary (check-config prints every one, from the loader's
    tables), so a key added to the code and not to smtp-sensor.yaml(5) or the shipped
    example config fails here."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    r = run_cli(["check-config", "-c", str(empty)])
    assert r.returncode == 0, r.stderr
    paths = list(_documented_paths(yaml.safe_load(r.stdout)))
    assert len(paths) > 80 and "fleet.share_counts" in paths and "tls.upstream_implicit" in paths, paths
    man = (REPO_ROOT / "docs/man/smtp-sensor.yaml.5.md").read_text()
    example = (REPO_ROOT / "config/smtp-sensor.yaml").read_text()
    not_in_man = [p for p in paths if f"**{p}**" not in man]
    not_in_example = [p for p in paths if not re.search(r"\b" + re.escape(p.split(".")[-1]) + r":", example)]
    assert not not_in_man, f"smtp-sensor.yaml(5) lacks {not_in_man}"
    assert not not_in_example, f"config/smtp-sensor.yaml lacks {not_in_example}"
