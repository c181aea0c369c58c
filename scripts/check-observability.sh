#!/usr/bin/env bash
# Static checks of the observability files: the Prometheus rules, the example scrape
# config and the Grafana dashboard. Installs nothing: needs promtool (Debian package
# `prometheus`) and python3. Exits non-zero on the first failure.
#
#   1. the dashboard JSON parses, and has the datasource/instance/listener variables,
#      unique panel ids, and every panel and query on the ${datasource} variable;
#   2. promtool check rules  config/prometheus/smtp-sensor-rules.yml
#   3. promtool check config config/prometheus/prometheus-scrape-example.yml
#   4. every PromQL query of the dashboard (template variables filled in) passes
#      promtool's parser, as recording rules in a scratch rules file;
#   5. promtool test rules: each alert fires on a synthetic series that should fire it,
#      and stays quiet on one that should not (the availability, traffic, security,
#      pipeline, process and fleet groups alike).
# That the metric names the dashboard and rules use are ones the daemon exports is
# checked against the running daemon by tests/integration/test_observability.py.
set -euo pipefail
cd "$(dirname "$0")/.."

RULES=config/prometheus/smtp-sensor-rules.yml
SCRAPE=config/prometheus/prometheus-scrape-example.yml
DASHBOARD=config/grafana/smtp-sensor-dashboard.json

for tool in promtool python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check-observability: $tool not found (promtool: apt-get install --no-install-recommends prometheus)" >&2
    exit 2
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "=== dashboard JSON parses: $DASHBOARD"
python3 -m json.tool "$DASHBOARD" >/dev/null

echo "=== dashboard structure"
python3 - "$DASHBOARD" "$tmp/dashboard-queries.yml" <<'PY'
import json, re, sys

path, out = sys.argv[1], sys.argv[2]
d = json.load(open(path))
errors = []
if not isinstance(d.get("schemaVersion"), int) or not 36 <= d["schemaVersion"] <= 39:
    errors.append(f"schemaVersion {d.get('schemaVersion')!r} is not one Grafana 9/10 writes (36-39)")
variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
ds = variables.get("datasource")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    errors.append("no `datasource` variable of type datasource with query prometheus")
for name in ("instance", "listener"):
    v = variables.get(name)
    if not v or v.get("type") != "query":
        errors.append(f"no `{name}` query variable")
    elif "label_values(" not in json.dumps(v.get("query")):
        errors.append(f"`{name}` variable does not use label_values()")
if "__inputs" in d:
    errors.append("__inputs present: the dashboard selects its data source through the `datasource` variable")

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

ids, exprs = [], []
for p in panels(d.get("panels", [])):
    ids.append(p.get("id"))
    if p.get("type") == "row":
        continue
    gp = p.get("gridPos", {})
    if not all(k in gp for k in ("h", "w", "x", "y")) or gp["x"] + gp["w"] > 24:
        errors.append(f"panel {p.get('title')!r}: bad gridPos {gp}")
    if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
        errors.append(f"panel {p.get('title')!r}: datasource is not the ${{datasource}} variable")
    if not p.get("targets"):
        errors.append(f"panel {p.get('title')!r}: no queries")
    for t in p.get("targets", []):
        if t.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            errors.append(f"panel {p.get('title')!r} query {t.get('refId')}: datasource is not ${{datasource}}")
        if not t.get("expr", "").strip():
            errors.append(f"panel {p.get('title')!r} query {t.get('refId')}: empty expr")
        else:
            exprs.append((p["title"], t["expr"]))
dups = {i for i in ids if ids.count(i) > 1}
if dups or None in ids:
    errors.append(f"panel ids missing or repeated: {sorted(x for x in dups if x is not None)}")

# Template variables as Grafana would fill them in, so promtool can parse the queries.
subst = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
         "$instance": ".*", "$listener": ".*", "${datasource}": "x"}
def fill(e):
    for k, v in subst.items():
        e = e.replace(k, v)
    if "$" in e:
        errors.append(f"unknown template variable in: {e}")
    return e

with open(out, "w") as f:
    f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        f.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(fill(e))}\n")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"  {len(ids)} panels, {len(exprs)} queries, variables {sorted(variables)}")
PY

echo "=== promtool check rules $RULES"
promtool check rules "$RULES"

echo "=== promtool check config $SCRAPE"
promtool check config --syntax-only "$SCRAPE"
cp "$RULES" "$tmp/smtp-sensor-rules.yml"
cp "$SCRAPE" "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"   # also loads the rules file it names

echo "=== dashboard queries parse (promtool)"
promtool check rules "$tmp/dashboard-queries.yml"

echo "=== promtool test rules (each alert on synthetic series)"
cat >"$tmp/rules-test.yml" <<'YAML'
rule_files:
  - smtp-sensor-rules.yml
evaluation_interval: 1m
tests:
  # --- SmtpSensorDown: fires 2 minutes after the scrapes start failing.
  - interval: 1m
    input_series:
      - series: 'up{job="smtp-sensor", instance="mx1:9925"}'
        values: '1 1 1 0 0 0 0 0 0 0'
      - series: 'up{job="smtp-sensor", instance="mx2:9925"}'
        values: '1x9'
    alert_rule_test:
      - eval_time: 4m
        alertname: SmtpSensorDown
        exp_alerts: []
      - eval_time: 6m
        alertname: SmtpSensorDown
        exp_alerts:
          - exp_labels: {severity: critical, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 is down or not answering /metrics"
              description: "Prometheus has failed to scrape mx1:9925 (job smtp-sensor) for 2 minutes. The sensor is inline: if the daemon is down, mail to its listeners is refused. Check `systemctl status smtp-sensor` and `curl -s http://mx1:9925/healthz`."
      - eval_time: 6m
        alertname: SmtpSensorAbsent
        exp_alerts: []

  # --- SmtpSensorAbsent: no smtp-sensor target at all.
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="mx1:9100"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: SmtpSensorAbsent
        exp_alerts: []
      - eval_time: 12m
        alertname: SmtpSensorAbsent
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor}
            exp_annotations:
              summary: "No smtp-sensor target is being scraped"
              description: "Prometheus has no target with job=\"smtp-sensor\" at all, so none of the smtp-sensor alerts can fire. The scrape config was removed or renamed."

  # --- SmtpSensorConnectionRatioSpike: 10 connections a minute, no message (fires);
  #     10 a minute with 5 messages (ratio 2, quiet); 1 a minute, none delivered
  #     (ratio high, but under the minimum rate: quiet).
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_connections_total{job="smtp-sensor", instance="mx1:9925", listener="mx"}'
        values: '0+10x60'
      - series: 'smtp_sensor_messages_total{job="smtp-sensor", instance="mx1:9925", listener="mx"}'
        values: '0x60'
      - series: 'smtp_sensor_connections_total{job="smtp-sensor", instance="mx1:9925", listener="submission"}'
        values: '0+10x60'
      - series: 'smtp_sensor_messages_total{job="smtp-sensor", instance="mx1:9925", listener="submission"}'
        values: '0+5x60'
      - series: 'smtp_sensor_connections_total{job="smtp-sensor", instance="mx1:9925", listener="quiet"}'
        values: '0+1x60'
      - series: 'smtp_sensor_messages_total{job="smtp-sensor", instance="mx1:9925", listener="quiet"}'
        values: '0x60'
    alert_rule_test:
      - eval_time: 10m
        alertname: SmtpSensorConnectionRatioSpike
        exp_alerts: []
      - eval_time: 45m
        alertname: SmtpSensorConnectionRatioSpike
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925", listener: mx}
            exp_annotations:
              summary: "mx on mx1:9925: 300 connections per delivered message"
              description: "Over the last 30 minutes listener mx took more than 10 connections for each message it delivered, at more than 3 connections a minute (value 300.0; no message counts as one). Someone is probing recipients, guessing passwords, or hammering the port. Find the source in /flagged, the alert log, or the transcript (grep \"New connection\")."

  # --- SmtpSensorMaxConnectionsReached: 5 connections refused at minute 3.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_blocked_connections_total{job="smtp-sensor", instance="mx1:9925", listener="mx", reason="max_connections"}'
        values: '0 0 0 5 5 5 5 5 5 5 5 5 5 5 5'
      - series: 'smtp_sensor_blocked_connections_total{job="smtp-sensor", instance="mx1:9925", listener="mx", reason="deny"}'
        values: '0+50x14'
    alert_rule_test:
      - eval_time: 2m
        alertname: SmtpSensorMaxConnectionsReached
        exp_alerts: []
      - eval_time: 5m
        alertname: SmtpSensorMaxConnectionsReached
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925", listener: mx}
            exp_annotations:
              summary: "mx on mx1:9925 is refusing connections at max_connections"
              description: "5 connections to listener mx were closed unanswered in the last 5 minutes because the listener's max_connections was reached. Either a connection flood is under way or the limit is too low."
      - eval_time: 14m
        alertname: SmtpSensorMaxConnectionsReached
        exp_alerts: []

  # --- SmtpSensorAlertFlood: two detectors at 2 alerts a minute each (60 in 15m).
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx1:9925", type="auth_bruteforce"}'
        values: '0+2x40'
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx1:9925", type="bad_commands"}'
        values: '0+2x40'
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx2:9925", type="bad_commands"}'
        values: '0+1x40'
    alert_rule_test:
      - eval_time: 4m
        alertname: SmtpSensorAlertFlood
        exp_alerts: []
      - eval_time: 30m
        alertname: SmtpSensorAlertFlood
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 raised 60 alerts in 15 minutes"
              description: "The sensor's detectors raised more than 30 alerts (all types) in 15 minutes, for 5 minutes running: an attack is under way or a detector threshold is too low. The dashboard's \"Alerts by type\" panel and the alert log (alerts.jsonl) tell which detector and which IPs."

  # --- SmtpSensorGuessedPassword: one auth_success_after_failures alert fires; other types do not.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx1:9925", type="auth_success_after_failures"}'
        values: '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx2:9925", type="auth_bruteforce"}'
        values: '0+1x30'
    alert_rule_test:
      - eval_time: 3m
        alertname: SmtpSensorGuessedPassword
        exp_alerts: []
      - eval_time: 7m
        alertname: SmtpSensorGuessedPassword
        exp_alerts:
          - exp_labels: {severity: critical, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 saw a login succeed after a run of failures"
              description: "A client logged in after at least `failures` failed logins in the window: a guessed password, or its owner after typos. The alert log line (type auth_success_after_failures) names the account and the client: check with the account's owner, and reset the password if they did not mistype."

  # --- SmtpSensorOutboundRejections: one outbound_rejections alert fires; other types do not.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx1:9925", type="outbound_rejections"}'
        values: '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'smtp_sensor_alerts_total{job="smtp-sensor", instance="mx2:9925", type="relay_probe"}'
        values: '0+1x20'
    alert_rule_test:
      - eval_time: 3m
        alertname: SmtpSensorOutboundRejections
        exp_alerts: []
      - eval_time: 7m
        alertname: SmtpSensorOutboundRejections
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925: remote servers keep refusing one sender's mail"
              description: "The outbound_rejections detector fired: remote servers refused one local sender's mail (5xx after MAIL) past its threshold, the mark of spam leaving from a stolen account. The alert log line names the sender and the local client; /flagged lists the account. Check the account, and the block lists (blocked_connections_total{reason=\"remote_refused\"})."

  # --- SmtpSensorAuthFailureSurge: 3 failures + 1 success a minute fires (75% failed);
  #     3 failures + 5 successes a minute does not (37%).
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_auth_attempts_total{job="smtp-sensor", instance="mx1:9925", listener="submission", mechanism="LOGIN", result="failure"}'
        values: '0+3x40'
      - series: 'smtp_sensor_auth_attempts_total{job="smtp-sensor", instance="mx1:9925", listener="submission", mechanism="PLAIN", result="success"}'
        values: '0+1x40'
      - series: 'smtp_sensor_auth_attempts_total{job="smtp-sensor", instance="mx1:9925", listener="busy", mechanism="LOGIN", result="failure"}'
        values: '0+3x40'
      - series: 'smtp_sensor_auth_attempts_total{job="smtp-sensor", instance="mx1:9925", listener="busy", mechanism="PLAIN", result="success"}'
        values: '0+5x40'
    alert_rule_test:
      - eval_time: 8m
        alertname: SmtpSensorAuthFailureSurge
        exp_alerts: []
      - eval_time: 30m
        alertname: SmtpSensorAuthFailureSurge
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925", listener: submission}
            exp_annotations:
              summary: "AUTH failures surging on submission (mx1:9925)"
              description: "More than 20 AUTH attempts failed (or were made where AUTH is not offered) in 10 minutes on listener submission, and they are more than half of all AUTH attempts: password guessing. Per-IP and per-user detail is in the alert log (auth_bruteforce, password_spray, distributed_bruteforce)."

  # --- SmtpSensorUpstreamErrors: one failed upstream connect a minute.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_upstream_errors_total{job="smtp-sensor", instance="mx1:9925", listener="mx"}'
        values: '0+1x30'
      - series: 'smtp_sensor_upstream_errors_total{job="smtp-sensor", instance="mx1:9925", listener="submission"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: SmtpSensorUpstreamErrors
        exp_alerts: []
      - eval_time: 15m
        alertname: SmtpSensorUpstreamErrors
        exp_alerts:
          - exp_labels: {severity: critical, job: smtp-sensor, instance: "mx1:9925", listener: mx}
            exp_annotations:
              summary: "mx on mx1:9925 cannot reach its upstream MTA"
              description: "5 upstream connects failed, timed out, or got no greeting in 5 minutes on listener mx; each of those clients was answered 421 4.4.1. Check that the MTA behind the sensor is up and answers within timeouts.connect and timeouts.greeting."

  # --- SmtpSensorEventsDropped: 100 transcript lines dropped once, at minute 3.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_events_dropped_total{job="smtp-sensor", instance="mx1:9925", sink="transcript"}'
        values: '0 0 0 100x40'
      - series: 'smtp_sensor_events_dropped_total{job="smtp-sensor", instance="mx1:9925", sink="store"}'
        values: '0x40'
    alert_rule_test:
      - eval_time: 5m
        alertname: SmtpSensorEventsDropped
        exp_alerts: []
      - eval_time: 10m
        alertname: SmtpSensorEventsDropped
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925", sink: transcript}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 is dropping transcript events"
              description: "100 transcript lines, alerts or rows were dropped in 15 minutes. Relaying and metrics are unaffected, but the transcript record is incomplete. The disk is full (the daemon's log says \"cannot write to\"), or slow, or the queue (transcripts.queue_size, store.queue_size) is too small for the load."
      - eval_time: 30m
        alertname: SmtpSensorEventsDropped
        exp_alerts: []

  # --- SmtpSensorConfigReloadFailed: mx1's reload is rejected at minute 3 and fixed at
  #     minute 12; mx2 reloads fine throughout.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_config_last_reload_successful{job="smtp-sensor", instance="mx1:9925"}'
        values: '1 1 1 0 0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1'
      - series: 'smtp_sensor_config_last_reload_successful{job="smtp-sensor", instance="mx2:9925"}'
        values: '1x19'
    alert_rule_test:
      - eval_time: 6m
        alertname: SmtpSensorConfigReloadFailed
        exp_alerts: []
      - eval_time: 9m
        alertname: SmtpSensorConfigReloadFailed
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 rejected its last config reload"
              description: "The last SIGHUP (systemctl reload smtp-sensor) on mx1:9925 found an invalid config file, so the daemon still runs the previous one. `journalctl -u smtp-sensor -p err` says what is wrong; `smtp-sensor check-config -c /etc/smtp-sensor/smtp-sensor.yaml` checks a fix before the next reload. A restart with the broken file would fail."
      - eval_time: 14m
        alertname: SmtpSensorConfigReloadFailed
        exp_alerts: []

  # --- SmtpSensorFileDescriptorsNearLimit: mx1 climbs to 900 of 1000 descriptors; mx2
  #     stays at 500; node exporter's own process_* series (another job) are ignored.
  - interval: 1m
    input_series:
      - series: 'process_open_fds{job="smtp-sensor", instance="mx1:9925"}'
        values: '100 300 500 700 900x20'
      - series: 'process_max_fds{job="smtp-sensor", instance="mx1:9925"}'
        values: '1000x24'
      - series: 'process_open_fds{job="smtp-sensor", instance="mx2:9925"}'
        values: '500x24'
      - series: 'process_max_fds{job="smtp-sensor", instance="mx2:9925"}'
        values: '1000x24'
      - series: 'process_open_fds{job="node", instance="mx1:9100"}'
        values: '95x24'
      - series: 'process_max_fds{job="node", instance="mx1:9100"}'
        values: '100x24'
    alert_rule_test:
      - eval_time: 6m
        alertname: SmtpSensorFileDescriptorsNearLimit
        exp_alerts: []
      - eval_time: 12m
        alertname: SmtpSensorFileDescriptorsNearLimit
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 uses 90% of its file descriptors"
              description: "More than 80% of the descriptor limit (LimitNOFILE) has been in use for 5 minutes on mx1:9925; each relayed session takes two. Near the limit new connections fail to be accepted. Check the active connections for a flood, listener max_connections, and the unit's LimitNOFILE."
  # --- SmtpSensorFleetDown: mx1 loses the database at minute 3; mx2 stays connected.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_fleet_up{job="smtp-sensor", instance="mx1:9925"}'
        values: '1 1 1 0 0 0 0 0 0 0 0 0 0 1 1 1'
      - series: 'smtp_sensor_fleet_up{job="smtp-sensor", instance="mx2:9925"}'
        values: '1x15'
    alert_rule_test:
      - eval_time: 6m
        alertname: SmtpSensorFleetDown
        exp_alerts: []
      - eval_time: 9m
        alertname: SmtpSensorFleetDown
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 cannot reach the fleet database"
              description: "mx1:9925 has not been connected to the fleet database (or found its schema old) for 5 minutes. Its sessions wait in the local store, and with sharing on it neither hears the fleet's flags and events nor shares its own. `journalctl -u smtp-sensor | grep fleet:` gives the reason (connect, schema, share); an old schema needs `smtp-sensor fleet init`."
      - eval_time: 14m
        alertname: SmtpSensorFleetDown
        exp_alerts: []

  # --- SmtpSensorFleetBacklogGrowing: mx1's backlog grows by 200 a minute; mx2 holds a
  #     large but shrinking backlog; mx3 grows but stays under 1000.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_fleet_backlog_sessions{job="smtp-sensor", instance="mx1:9925"}'
        values: '0+200x60'
      - series: 'smtp_sensor_fleet_backlog_sessions{job="smtp-sensor", instance="mx2:9925"}'
        values: '50000-500x60'
      - series: 'smtp_sensor_fleet_backlog_sessions{job="smtp-sensor", instance="mx3:9925"}'
        values: '0+10x60'
    alert_rule_test:
      - eval_time: 10m
        alertname: SmtpSensorFleetBacklogGrowing
        exp_alerts: []
      - eval_time: 30m
        alertname: SmtpSensorFleetBacklogGrowing
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925: 6000 sessions wait to be shipped to the fleet"
              description: "More than 1000 sessions of mx1:9925 have not reached the fleet database and the backlog has grown for 15 minutes running, so the fleet report lags. With smtp_sensor_fleet_up at 1 the database is too slow for the traffic (smtp_sensor_fleet_errors_total{op=\"ship\"}, the database's load); at 0 see SmtpSensorFleetDown."

  # --- SmtpSensorFleetEventsDropped: 40 events dropped at minute 3 on mx1.
  - interval: 1m
    input_series:
      - series: 'smtp_sensor_fleet_events_dropped_total{job="smtp-sensor", instance="mx1:9925"}'
        values: '0 0 0 40x30'
      - series: 'smtp_sensor_fleet_events_dropped_total{job="smtp-sensor", instance="mx2:9925"}'
        values: '0x33'
    alert_rule_test:
      - eval_time: 2m
        alertname: SmtpSensorFleetEventsDropped
        exp_alerts: []
      - eval_time: 5m
        alertname: SmtpSensorFleetEventsDropped
        exp_alerts:
          - exp_labels: {severity: warning, job: smtp-sensor, instance: "mx1:9925"}
            exp_annotations:
              summary: "smtp-sensor mx1:9925 dropped 40 detector events meant for the fleet"
              description: "The queue of detector events for the fleet (share_counts) was full, or a batch failed, in the last 15 minutes: the other sensors' windows miss these events, so an attack spread over the fleet may be flagged late. This sensor's own detectors counted them. The database was away or slower than the traffic."
      - eval_time: 25m
        alertname: SmtpSensorFleetEventsDropped
        exp_alerts: []
YAML
promtool test rules "$tmp/rules-test.yml"

echo "check-observability: OK"
