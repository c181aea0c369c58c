"""Manual flags against the allow list (SPEC 11): allowed clients are never flagged or
blocked, so `flags add` of an address or network that an allow entry holds whole is
refused with an error naming the entry (and exit 1), while a network that only takes in
an allow entry is added with a note that those addresses stay exempt. The allow list is
the one of the moment: a SIGHUP that changes it changes the answer."""
from __future__ import annotations

import re
import signal

from scripted_server import Script
from test_detectors_common import det_config, quit, smtp
from test_detectors_flags import wait_log
from test_flags_control import BLOCK_REPLY, cli, control, manual_alerts, refused

UNTIL = r"until \d{4}-\d\d-\d\dT[\d:.]+Z"


def in_allow(key: str, entry: str) -> str:
    return f"{key} is in allow ({entry}): allowed addresses are never flagged or blocked; take it out of allow first"


def default_allow_config() -> dict:
    cfg = det_config({}, only=True)
    del cfg["allow"]  # the default: 127.0.0.0/8
    return cfg


def test_add_inside_allow_is_refused_and_an_overlap_is_noted(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=default_allow_config())

    r = cli(sensor, "add", "127.0.0.9", "--action", "block")
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr == f"smtp-sensor flags: {in_allow('127.0.0.9', '127.0.0.0/8')}\n"
    for key, shown in (("127.9.0.0/16", "127.9.0.0/16"), ("127.0.0.0/8", "127.0.0.0/8"), ("127.1.2.3/8", "127.0.0.0/8")):
        assert control(sensor, f"add {key}") == [f"error: {in_allow(shown, '127.0.0.0/8')}"]
    assert cli(sensor, "list").stdout == ""
    quit(smtp(sensor, "127.0.0.9"))  # served: nothing claims otherwise
    assert manual_alerts(sensor) == []

    # Networks that take in the allow entry are added; its addresses stay exempt, and the reply says so.
    note = "note: addresses in allow (127.0.0.0/8) stay exempt"
    r = cli(sensor, "add", "127.0.0.0/7", "--action", "block")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(rf"blocked 126\.0\.0\.0/7 {UNTIL}", lines[0]) and lines[1:] == [note], r.stdout
    lines = control(sensor, "add 0.0.0.0/0")
    assert re.fullmatch(rf"flagged 0\.0\.0\.0/0 {UNTIL}", lines[0]) and lines[1:] == [note, "ok"], lines
    quit(smtp(sensor, "127.0.0.9"))  # exempt, as the note said
    # Apart from allow: no note.
    lines = control(sensor, "add 2001:db8::/32 action=block")
    assert re.fullmatch(rf"blocked 2001:db8::/32 {UNTIL}", lines[0]) and lines[1:] == ["ok"], lines
    keys = {l.split()[0]: l for l in cli(sensor, "list").stdout.splitlines()}
    assert set(keys) == {"126.0.0.0/7", "0.0.0.0/0", "2001:db8::/32"}, keys
    assert "action=block" in keys["126.0.0.0/7"]


def test_the_allow_list_of_the_moment_decides(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=det_config({}, only=True, allow=["127.0.0.0/8"]))
    assert control(sensor, "add 127.0.0.9 action=block") == [f"error: {in_allow('127.0.0.9', '127.0.0.0/8')}"]

    sensor.config["allow"] = ["127.0.0.10/32", "::1"]
    sensor.write_config()
    mark = len(sensor.stderr_text())
    sensor.signal(signal.SIGHUP)
    wait_log(sensor, "reloaded", mark)

    r = cli(sensor, "add", "127.0.0.9", "--action", "block")
    assert r.returncode == 0 and re.fullmatch(rf"blocked 127\.0\.0\.9 {UNTIL}\n", r.stdout), (r.stdout, r.stderr)
    assert refused(sensor, "127.0.0.9") == BLOCK_REPLY
    r = cli(sensor, "add", "127.0.0.10")
    assert r.returncode == 1 and in_allow("127.0.0.10", "127.0.0.10/32") in r.stderr, r.stderr
    lines = control(sensor, "add 127.0.0.0/24 action=block")
    assert lines[1:] == ["note: addresses in allow (127.0.0.10/32) stay exempt", "ok"], lines
    quit(smtp(sensor, "127.0.0.10"))  # exempt inside the blocked /24
    assert refused(sensor, "127.0.0.11") == BLOCK_REPLY
    lines = control(sensor, "add ::/0")
    assert lines[1:] == ["note: addresses in allow (127.0.0.10/32, ::1) stay exempt", "ok"], lines
