#include "daemon/sinks/metrics.hpp"
#include "daemon/sinks/process_metrics.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>

using namespace smtp::daemon;

TEST_CASE("/proc/self/stat fields are counted from the last parenthesis") {
  // A command name with spaces and a ')' of its own, as a hostile argv[0] could have.
  const std::string stat =
      "4242 (smtp) sensor) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 125 0 0 20 0 3 0 98765 123456789 4321 "
      "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto f = parse_proc_stat(stat);
  REQUIRE(f.has_value());
  CHECK(f->starttime_ticks == 98765);
  CHECK(f->vsize_bytes == 123456789);
  CHECK(f->rss_pages == 4321);
  CHECK_FALSE(parse_proc_stat("4242 (truncated) S 1 2 3").has_value());
  CHECK_FALSE(parse_proc_stat("no parenthesis").has_value());
}

TEST_CASE("the process sample is plausible, and counts a descriptor we open") {
  const auto before = sample_process();
  CHECK(before.resident_bytes > 0);
  CHECK(before.virtual_bytes >= before.resident_bytes);
  CHECK(before.max_fds > 0);
  // The CPU clock counts nanoseconds: even this young process has used some, and it grows.
  CHECK(before.cpu_seconds > 0);
  volatile double sink = 0;
  for (int i = 0; i < 1000000; ++i) sink = sink + i;
  CHECK(sample_process().cpu_seconds > before.cpu_seconds);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(before.start_time_seconds <= now + 1);
  CHECK(before.start_time_seconds > now - 24 * 3600);  // a test process is young
  const int fd = ::open("/dev/null", O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(sample_process().open_fds == before.open_fds + 1);
  ::close(fd);
}

TEST_CASE("Metrics exports the process, build and reload families") {
  Metrics m(10, "1.2.3");
  auto text = m.serialize();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"})
    CHECK_MESSAGE(text.find(std::string("\n") + name + " ") != std::string::npos, name);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  CHECK(text.find("smtp_sensor_build_info{version=\"1.2.3\"} 1") != std::string::npos);
  CHECK(text.find("\nsmtp_sensor_config_last_reload_successful 1") != std::string::npos);
  m.reloaded(false);
  text = m.serialize();
  CHECK(text.find("\nsmtp_sensor_config_last_reload_successful 0") != std::string::npos);
  m.reloaded(true);
  CHECK(m.serialize().find("\nsmtp_sensor_config_last_reload_successful 1") != std::string::npos);
}
