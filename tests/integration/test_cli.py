"""The command line as a new user meets it: SMTP_SENSOR_LOG_LEVEL in any case and with
unknown words, usage errors that say what is missing or what was meant, run's and
check-config's own --help, report without --store or -c, and report's answer to an
unknown --mode.
"""
from __future__ import annotations

import os
import time

import pytest

from harness import SLOW, connect, free_port, recv_until, rst_close, run_cli, run_on_a_busy_port, wait_until

DEFAULT_CONFIG = "/etc/smtp-sensor/smtp-sensor.yaml"
LEVEL_WORDS = "use trace, debug, info, warning, error, critical or off"
START_LINE = "[info] smtp-sensor "


def _reset_one_session(sensor) -> None:
    """A session whose client sends a RST: the relay logs that at debug."""
    s = connect(sensor.port)
    recv_until(s, b"\r\n")
    rst_close(s)


# --------------------------------------------------------------------------- SMTP_SENSOR_LOG_LEVEL

def test_log_level_in_upper_case_is_taken(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, env={"SMTP_SENSOR_LOG_LEVEL": "DEBUG"})
    _reset_one_session(sensor)
    wait_until(lambda: "[debug]" in sensor.stderr_text(), 10, what="a debug line")
    sensor.stop()
    text = sensor.stderr_text()
    assert START_LINE in text, text
    assert "is not a log level" not in text, text


def test_log_level_in_mixed_case_is_taken(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, env={"SMTP_SENSOR_LOG_LEVEL": "Info"})
    _reset_one_session(sensor)
    time.sleep(0.5 * SLOW)  # time for the reset's debug line, which info must drop
    sensor.stop()
    text = sensor.stderr_text()
    assert START_LINE in text and "[debug]" not in text, text
    assert "is not a log level" not in text, text


def test_empty_log_level_is_the_default(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, env={"SMTP_SENSOR_LOG_LEVEL": ""})
    sensor.stop()
    text = sensor.stderr_text()
    assert START_LINE in text and "is not a log level" not in text, text


def test_unknown_log_level_warns_and_logs_at_info(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, env={"SMTP_SENSOR_LOG_LEVEL": "verbose"})
    sensor.stop()
    lines = sensor.stderr_text().splitlines()
    warning = f"[warning] SMTP_SENSOR_LOG_LEVEL 'verbose' is not a log level: {LEVEL_WORDS}; logging at info"
    assert sum(warning in l for l in lines) == 1, lines
    assert any(START_LINE in l for l in lines), lines
    assert any("[info] stopped" in l for l in lines), lines


def test_unknown_log_level_keeps_the_error_of_a_failed_start(tmp_path):
    r, port = run_on_a_busy_port(tmp_path, env={"SMTP_SENSOR_LOG_LEVEL": "bogus"})
    assert r.returncode == 1, r
    assert "SMTP_SENSOR_LOG_LEVEL 'bogus' is not a log level" in r.stderr, r.stderr
    assert any("cannot listen" in l and str(port) in l for l in r.stderr.splitlines()), r.stderr


# --------------------------------------------------------------------------- usage errors

def _usage_error(args: list[str]) -> str:
    r = run_cli(args)
    assert r.returncode == 2, r
    assert r.stdout == "", r.stdout
    return r.stderr


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_config_without_c_is_pointed_at(command, tmp_path, monkeypatch):
    err = _usage_error([command, "sensor.yaml"])
    hint = "unexpected argument 'sensor.yaml' (did you mean -c sensor.yaml?)\n"
    assert err.startswith(f"smtp-sensor {command}: {hint}"), err
    assert f"usage: smtp-sensor {command} -c FILE" in err, err
    assert "flags add" not in err, "a command's usage error prints its own usage, not every command's"
    # A file that exists, whatever its name.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sensor.conf").write_text("")
    err = _usage_error([command, "sensor.conf"])
    assert "unexpected argument 'sensor.conf' (did you mean -c sensor.conf?)" in err, err
    # Neither: no hint.
    err = _usage_error([command, "nonsense"])
    assert "unexpected argument 'nonsense'\n" in err, err


def test_bare_config_word_gets_the_hint_and_the_whole_usage():
    err = _usage_error(["sensor.yml"])
    assert err.startswith("smtp-sensor: unexpected argument 'sensor.yml' (did you mean -c sensor.yml?)\n"), err
    assert "smtp-sensor flags add" in err, err


@pytest.mark.parametrize("args, message", [
    (["check-config", "-c"], "smtp-sensor check-config: -c needs a FILE"),
    (["run", "-c"], "smtp-sensor run: -c needs a FILE"),
    (["run", "--config"], "smtp-sensor run: --config needs a FILE"),
    (["-c"], "smtp-sensor: -c needs a FILE"),
    (["flags", "list", "-c"], "smtp-sensor flags: -c needs a FILE"),
    (["flags", "add", "192.0.2.1", "--ttl"], "smtp-sensor flags: --ttl needs a DURATION such as 1h"),
    (["flags", "add", "192.0.2.1", "--action"], "smtp-sensor flags: --action needs flag or block"),
    (["flags", "add", "192.0.2.1", "--reason"], "smtp-sensor flags: --reason needs a TEXT"),
    (["fleet", "init", "--url"], "smtp-sensor fleet init: --url needs a URI"),
    (["fleet", "init", "-c"], "smtp-sensor fleet init: -c needs a FILE"),
    (["fleet", "init", "--password-file"], "smtp-sensor fleet init: --password-file needs a FILE"),
    (["report", "--store"], "smtp-sensor report: --store needs a PATH"),
    (["report", "-c"], "smtp-sensor report: -c needs a FILE"),
    (["report", "--fleet-url"], "smtp-sensor report: --fleet-url needs a URI"),
    (["report", "--fleet", "--sensor"], "smtp-sensor report: --sensor needs a NAME"),
])
def test_an_option_without_its_value_says_what_it_needs(args, message):
    err = _usage_error(args)
    assert err.splitlines()[0] == message, err


def test_fleet_init_points_at_c_too():
    err = _usage_error(["fleet", "init", "sensor.yaml"])
    hint = "unexpected argument 'sensor.yaml' (did you mean -c sensor.yaml?)\n"
    assert err.startswith(f"smtp-sensor fleet init: {hint}"), err


def test_missing_c_is_still_required():
    err = _usage_error(["check-config"])
    assert err.startswith("smtp-sensor check-config: -c FILE is required\n"), err


# --------------------------------------------------------------------------- --help

@pytest.mark.parametrize("args, usage, parts, absent", [
    (["run", "--help"], "usage: smtp-sensor run -c FILE",
     ("Runs the daemon in the foreground", "-c, --config FILE", "Exit status: 0 after a drain",
      "2 on a usage error", "SIGHUP reloads the config", "SMTP_SENSOR_LOG_LEVEL"),
     ("flags add", "fleet init")),
    (["check-config", "-h"], "usage: smtp-sensor check-config -c FILE",
     ("Validates FILE", "effective config", "-c, --config FILE",
      "Exit status: 0 valid (warnings may be on stderr), 1 invalid, 2 on a usage error"),
     ("flags add", "SIGHUP")),
], ids=["run", "check-config"])
def test_help_of_run_and_check_config_is_their_own(args, usage, parts, absent):
    r = run_cli(args)
    assert r.returncode == 0 and r.stderr == "", r
    out = r.stdout
    assert out.startswith(usage), out
    for part in parts:
        assert part in out, (part, out)
    for other in absent:  # the other commands' usage is not repeated
        assert other not in out, (other, out)


def test_general_help_lists_every_command():
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    for part in ("smtp-sensor run -c FILE", "smtp-sensor check-config -c FILE", "smtp-sensor report",
                 "smtp-sensor flags add", "smtp-sensor fleet init", "(run and check-config take --help too)",
                 "Signals:", "SMTP_SENSOR_LOG_LEVEL"):
        assert part in r.stdout, (part, r.stdout)


# --------------------------------------------------------------------------- report

@pytest.mark.skipif(os.path.exists(DEFAULT_CONFIG), reason=f"{DEFAULT_CONFIG} exists here: report would read it")
def test_report_without_a_store_names_the_default_config():
    # The fallback to the default config itself is not tested: the test cannot write /etc.
    r = run_cli(["report", "--tz", "UTC"])
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr == (f"smtp-sensor report: no session store configured: give --store PATH or -c FILE "
                        f"(the default, {DEFAULT_CONFIG}, does not exist)\n"), r.stderr
    r = run_cli(["report", "--help"])
    assert f"Without --store, -c or --fleet-url: -c {DEFAULT_CONFIG} when it exists." in r.stdout, r.stdout


def test_unknown_mode_says_sensor_is_for_the_fleet(tmp_path):
    r = run_cli(["report", "--store", str(tmp_path / "none.db"), "--mode", "foo"])
    assert r.returncode == 2, r
    assert r.stderr == ("smtp-sensor report: unknown mode 'foo' for --mode: use trend, domain, user or ip "
                        "(sensor with --fleet)\n"), r.stderr
    # With --fleet every mode works, and the answer lists them all. The query is checked
    # before any connection, so the database need not exist.
    r = run_cli(["report", "--fleet-url", f"postgresql://127.0.0.1:{free_port()}/none", "--mode", "foo"])
    assert r.returncode == 2, r
    assert "unknown mode 'foo' for --mode: use trend, domain, user, ip, sensor\n" in r.stderr, r.stderr
