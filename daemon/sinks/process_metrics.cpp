#include "daemon/sinks/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>

namespace smtp::daemon {

std::optional<StatFields> parse_proc_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After ") " comes field 3 (state); utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  std::string_view rest = text.substr(close + 1);
  StatFields f;
  int field = 2;
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = std::min(rest.find_first_of(" \n"), rest.size());
    const auto token = rest.substr(0, end);
    rest.remove_prefix(end);
    if (!rest.empty() && rest.front() == '\n') rest = {};
    ++field;
    double* out = nullptr;
    switch (field) {
      case 22: out = &f.starttime_ticks; break;
      case 23: out = &f.vsize_bytes; break;
      case 24: out = &f.rss_pages; break;
      default: break;
    }
    if (out) {
      long long v = 0;
      const auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
      if (ec != std::errc{}) return std::nullopt;
      *out = static_cast<double>(v);
    }
    if (field == 24) return f;
  }
  return std::nullopt;
}

namespace {

double open_fd_count() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

double seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

ProcessSample sample_process() {
  ProcessSample s;
  std::ifstream in("/proc/self/stat");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (const auto f = parse_proc_stat(text)) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    s.resident_bytes = f->rss_pages * page;
    s.virtual_bytes = f->vsize_bytes;
    s.start_time_seconds = seconds(CLOCK_REALTIME) - seconds(CLOCK_BOOTTIME) + f->starttime_ticks / ticks;
  }
  // Every thread's user and system time, to the nanosecond: /proc's utime and stime count
  // in ticks of 10 ms, and a sensor that relayed a few sessions read 0 there.
  s.cpu_seconds = seconds(CLOCK_PROCESS_CPUTIME_ID);
  s.open_fds = open_fd_count();
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    s.max_fds = static_cast<double>(rl.rlim_cur);  // RLIM_INFINITY reads as 2^64-1, as Go's client has it
  return s;
}

}  // namespace smtp::daemon
