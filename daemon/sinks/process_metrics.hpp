// The standard process metrics (process_cpu_seconds_total and friends, as every Prometheus
// client library exports them), read from /proc/self, getrlimit and the CPU clock.
// prometheus-cpp as Debian ships it has no process collector, so Metrics refreshes these
// before each scrape.
#pragma once

#include <optional>
#include <string_view>

namespace smtp::daemon {

struct ProcessSample {
  double cpu_seconds = 0;       // every thread's user + system time (CLOCK_PROCESS_CPUTIME_ID)
  double resident_bytes = 0;    // rss pages * page size
  double virtual_bytes = 0;     // vsize
  double start_time_seconds = 0;  // Unix time the process started
  double open_fds = 0;          // entries of /proc/self/fd
  double max_fds = 0;           // RLIMIT_NOFILE soft limit
};

struct StatFields {
  double starttime_ticks = 0;  // since boot
  double vsize_bytes = 0;
  double rss_pages = 0;
};

// Parses the text of /proc/<pid>/stat; the command name in parentheses may hold spaces
// and parentheses itself, so fields are counted from the last ')'.
std::optional<StatFields> parse_proc_stat(std::string_view text);

// Reads /proc/self/stat, /proc/self/fd, RLIMIT_NOFILE and the process's CPU clock. Fields
// that cannot be read stay 0. The start time comes from the stat's start tick and
// CLOCK_BOOTTIME, since /proc/stat (btime) is hidden by the unit's ProcSubset=pid.
ProcessSample sample_process();

}  // namespace smtp::daemon
