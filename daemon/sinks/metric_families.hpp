// Every Prometheus family the daemon exports (SPEC section 7), declared once.
#pragma once

// X(member, kind, name, help): kind is Counter, Gauge or Histogram. The Metrics class
// derives its members, registration and the family list in the docs' check from this.
#define SMTP_SENSOR_METRIC_FAMILIES(X)                                                                                \
  X(connections, Counter, "smtp_sensor_connections_total", "Accepted TCP connections")                                 \
  X(active, Gauge, "smtp_sensor_connections_active", "Connections open now")                                           \
  X(blocked, Counter, "smtp_sensor_blocked_connections_total",                                                          \
    "Connections refused by deny, flag or protocol rules, or refused by the upstream at the greeting")                 \
  X(terminations, Counter, "smtp_sensor_terminations_total",                                                            \
    "Permanent rejections of MAIL, RCPT, DATA or end-of-data, and sessions that ended without a graceful QUIT")        \
  X(bytes, Counter, "smtp_sensor_bytes_total", "Bytes relayed, counted at the socket")                                 \
  X(upstream_errors, Counter, "smtp_sensor_upstream_errors_total",                                                      \
    "Upstream connects that failed or timed out, and upstreams that never greeted")                                    \
  X(commands, Counter, "smtp_sensor_commands_total", "Client command lines by verb")                                   \
  X(bad_commands, Counter, "smtp_sensor_bad_commands_total", "Commands answered 500-504, and lines the decoder finds invalid") \
  X(replies, Counter, "smtp_sensor_replies_total", "Server replies by class")                                          \
  X(permanent_failures, Counter, "smtp_sensor_permanent_failures_total", "5xx answers to MAIL, RCPT, DATA and end-of-data") \
  X(messages, Counter, "smtp_sensor_messages_total", "Messages whose end-of-data got a 2xx")                          \
  X(auth, Counter, "smtp_sensor_auth_attempts_total", "AUTH attempts by mechanism and result")                        \
  X(anomalies, Counter, "smtp_sensor_anomalies_total", "Protocol anomalies the decoder saw")                          \
  X(tls_handshakes, Counter, "smtp_sensor_tls_handshakes_total",                                                        \
    "TLS handshakes the sensor made in terminate mode, by side and result")                                            \
  X(alerts, Counter, "smtp_sensor_alerts_total", "Alerts raised, by detector")                                         \
  X(flagged_ips, Gauge, "smtp_sensor_flagged_ips", "IPs flagged now")                                                  \
  X(flags_evicted, Counter, "smtp_sensor_flags_evicted_total",                                                          \
    "Automatic flags dropped because the flag table was full (flag.max_entries)")                                      \
  X(http_auth_failures, Counter, "smtp_sensor_http_auth_failures_total",                                                \
    "HTTP requests refused with 401 for a missing or wrong basic auth user or password")                              \
  X(domain_connections, Counter, "smtp_sensor_domain_connections_total", "Sessions per domain (top domains, the rest as other)") \
  X(domain_messages, Counter, "smtp_sensor_domain_messages_total", "Messages per domain")                             \
  X(domain_bytes, Counter, "smtp_sensor_domain_bytes_total", "Bytes per domain, both directions")                     \
  X(upstream_connect, Histogram, "smtp_sensor_upstream_connect_seconds", "Time to connect to the upstream")           \
  X(session_duration, Histogram, "smtp_sensor_session_duration_seconds", "How long sessions lasted")                 \
  X(dropped, Counter, "smtp_sensor_events_dropped_total", "Lines or rows a sink dropped: its queue was full, or its file or database refused them")                 \
  X(out_of_descriptors, Counter, "smtp_sensor_out_of_descriptors_total",                                                \
    "Accepts (SMTP and HTTP) and upstream connects that failed because the daemon ran out of file descriptors")        \
  X(build_info, Gauge, "smtp_sensor_build_info", "Always 1; the version label names the running build")              \
  X(reload_successful, Gauge, "smtp_sensor_config_last_reload_successful",                                              \
    "1 if the last config load (start or SIGHUP) succeeded, 0 if the last SIGHUP was rejected")                        \
  X(reload_success_time, Gauge, "smtp_sensor_config_last_reload_success_timestamp_seconds",                             \
    "Unix time of the last successful config load (start or SIGHUP)")                                                  \
  X(fleet_up, Gauge, "smtp_sensor_fleet_up", "1 while the fleet database is connected and its schema current, else 0") \
  X(fleet_backlog, Gauge, "smtp_sensor_fleet_backlog_sessions",                                                          \
    "Sessions in the local store not shipped to the fleet database yet")                                               \
  X(fleet_shipped, Counter, "smtp_sensor_fleet_shipped_total", "Sessions committed to the fleet database")            \
  X(fleet_errors, Counter, "smtp_sensor_fleet_errors_total",                                                            \
    "Fleet database failures by operation: connect, schema, ship, store (reading the local store), share (flags and counts)") \
  X(fleet_events_published, Counter, "smtp_sensor_fleet_events_published_total",                                         \
    "Detector events this sensor shared with the fleet (fleet.share_counts)")                                          \
  X(fleet_events_received, Counter, "smtp_sensor_fleet_events_received_total",                                           \
    "Other sensors' detector events counted in this sensor's windows")                                                 \
  X(fleet_events_dropped, Counter, "smtp_sensor_fleet_events_dropped_total",                                             \
    "Detector events not shared: the fixed-size queue was full while the fleet database was away, or their batch failed") \
  X(fleet_flags_received, Counter, "smtp_sensor_fleet_flags_received_total",                                             \
    "Flag changes of other sensors applied to this sensor's flag table (fleet.share_flags)")

// The standard process metrics of the Prometheus client libraries (same names, types and
// meaning), filled from /proc/self and getrlimit before each scrape (sinks/process_metrics).
#define SMTP_SENSOR_PROCESS_FAMILIES(X)                                                                               \
  X(process_cpu, Counter, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds")            \
  X(process_resident, Gauge, "process_resident_memory_bytes", "Resident memory size in bytes")                       \
  X(process_virtual, Gauge, "process_virtual_memory_bytes", "Virtual memory size in bytes")                          \
  X(process_open_fds, Gauge, "process_open_fds", "Number of open file descriptors")                                  \
  X(process_max_fds, Gauge, "process_max_fds", "Maximum number of open file descriptors")                            \
  X(process_start_time, Gauge, "process_start_time_seconds", "Start time of the process since unix epoch in seconds")
