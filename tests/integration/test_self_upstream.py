"""An upstream that is the sensor itself, and binds that cannot all succeed.

A listener whose fixed upstream is one of the sensor's own listen addresses made each
session dial the sensor again: one client became ~10,000 sessions in a second and the
daemon ran out of descriptors. The loader refuses what it can see (the same address,
loopback or 0.0.0.0 under a wildcard listen) at its FILE:LINE:COL; an address of the
host's own interfaces is known only to the running daemon, which refuses to start with
it and rejects a reload that brings it. The run-time case runs in a network namespace of
its own (198.18.0.0/15, removed afterwards, also on failure).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sensor, free_port, run_cli  # noqa: E402
from netns import Lab, missing_tools  # noqa: E402


def write(path, listeners, **extra):
    path.write_text(yaml.safe_dump({"listeners": listeners, "control": {"socket": ""}, **extra}, sort_keys=False))
    return path


def test_check_config_names_the_line_of_an_upstream_that_is_the_sensor(tmp_path):
    port = free_port()
    cfg = write(tmp_path / "loop.yaml", [{"name": "smtp", "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{port}"}])
    r = run_cli(["check-config", "-c", str(cfg)])
    assert r.returncode != 0, r
    assert (f"{cfg}:4:13: listener 'smtp': upstream 127.0.0.1:{port} is the sensor's own listener 'smtp' "
            f"(127.0.0.1:{port}): it would relay to itself") in r.stderr, r.stderr
    # The daemon refuses the same file before it binds anything.
    r = run_cli(["run", "-c", str(cfg)], timeout=15)
    assert r.returncode != 0 and "it would relay to itself" in r.stderr, r

    # A wildcard listen with a loopback upstream on its port, and a second listener whose
    # upstream is the first one's address; http.listen on a listener's port.
    cfg = write(tmp_path / "wild.yaml", [
        {"name": "mx", "listen": f"0.0.0.0:{port}", "upstream": "127.0.0.1:10025"},
        {"name": "out", "listen": "127.0.0.1:10026", "upstream": f"127.0.0.5:{port}"},
    ], http={"listen": f"127.0.0.1:{port}"})
    r = run_cli(["check-config", "-c", str(cfg)])
    assert r.returncode != 0, r
    errors = [l for l in r.stderr.splitlines() if l.startswith(str(cfg))]
    assert len(errors) == 2, r.stderr
    assert "listener 'out': upstream 127.0.0.5:%d is the sensor's own listener 'mx'" % port in errors[0], errors
    assert f"http.listen 127.0.0.1:{port} overlaps listener 'mx''s 0.0.0.0:{port}" in errors[1], errors


@pytest.fixture
def lab():
    why = missing_tools()
    if why:
        pytest.skip(why)
    lab = Lab("u")
    try:
        lab.box = lab.ns("self")
        # An address of the host that is not loopback: the case only the daemon can see.
        lab.box.run("ip", "addr", "add", "198.18.5.1/32", "dev", "lo")
        yield lab
    finally:
        left = lab.cleanup()
        assert not left, left


def test_an_upstream_on_an_address_of_this_host_is_refused_at_start_and_at_reload(tmp_path, lab):
    port = free_port()
    listener = {"listen": f"0.0.0.0:{port}"}
    looping = Sensor(tmp_path / "a", f"198.18.5.1:{port}", listener=listener)
    cfg = looping.write_config()
    # The loader cannot know 198.18.5.1 is this host's...
    assert run_cli(["check-config", "-c", str(cfg)]).returncode == 0
    # ...the daemon, in the namespace that has it, can.
    r = subprocess.run([*lab.box.prefix, looping.binary, "run", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert (f"listener 'smtp': upstream 198.18.5.1:{port} is an address of this host on a port the sensor "
            "listens on: it would relay to itself") in r.stderr, r.stderr

    # Running with a sound upstream, a reload that brings the loop is rejected whole.
    with lab.box.entered():
        sensor = Sensor(tmp_path / "b", f"198.18.5.9:{port}", listener=listener).start()
    try:
        sensor.config["listeners"][0]["upstream"] = f"198.18.5.1:{port}"
        sensor.write_config()
        mark = len(sensor.stderr_text())
        sensor.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload rejected" not in sensor.stderr_text()[mark:] and time.monotonic() < deadline:
            time.sleep(0.05)
        log = sensor.stderr_text()[mark:]
        assert "reload rejected, old config stays" in log and "it would relay to itself" in log, log
        with lab.box.entered():
            assert sensor.metric("smtp_sensor_config_last_reload_successful") == 0
        fds = sensor.open_fds()
        # A client still gets the old upstream's answer (nothing listens there: 421), not a loop.
        r = subprocess.run([*lab.box.prefix, "/usr/bin/python3", "-c",
                            "import socket,sys; s=socket.create_connection(('198.18.5.1', int(sys.argv[1])), 5);"
                            "s.settimeout(15); print(s.recv(200).decode())", str(port)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("421"), (r.stdout, r.stderr)
        assert sensor.open_fds() <= fds + 4
        sensor.config["listeners"][0]["upstream"] = f"198.18.5.9:{port}"
        sensor.write_config()  # so that the harness stops it cleanly
    finally:
        sensor.stop()
