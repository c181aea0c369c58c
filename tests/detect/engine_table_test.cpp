// The engine's table-driven parts: alert-or-repeat, dispatch by DetectorId, and config reloads across threads.
#include "detect/engine.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <optional>
#include <thread>
#include <vector>

using namespace smtp;
using namespace smtp::detect;

namespace {
IpBytes ip(std::uint8_t last) {
  IpBytes b{};
  b[10] = b[11] = 0xff;
  b[12] = 198;
  b[13] = 51;
  b[15] = last;
  return b;
}
}  // namespace

TEST_CASE("alert_or_repeat: nothing below the threshold, one alert, bare repeats while quiet") {
  config::Detector d{true, config::Action::block, std::chrono::seconds(60), 3, 0};
  std::uint32_t quiet = 0;
  int described = 0;
  const auto describe = [&](Finding& f) {
    ++described;
    f.detail = "why";
    f.users = {"u"};
  };
  Findings out;
  alert_or_repeat(DetectorId::bad_commands, d, 2, quiet, 1000, out, describe);
  CHECK(out.empty());
  CHECK(quiet == 0);

  alert_or_repeat(DetectorId::bad_commands, d, 3, quiet, 1000, out, describe);
  REQUIRE(out.size() == 1);
  CHECK(described == 1);
  CHECK(quiet == 1060);
  CHECK(out[0].type == "bad_commands");
  CHECK(out[0].id == DetectorId::bad_commands);
  CHECK(out[0].severity == "warning");
  CHECK(out[0].count == 3);
  CHECK(out[0].threshold == 3);
  CHECK(out[0].window_s == 60);
  CHECK(out[0].action == config::Action::block);
  CHECK(out[0].detail == "why");

  alert_or_repeat(DetectorId::bad_commands, d, 4, quiet, 1059, out, describe);
  REQUIRE(out.size() == 2);
  CHECK(described == 1);  // a repeat is not described
  CHECK(out[1].count == 4);
  CHECK(out[1].detail.empty());
  CHECK(out[1].users.empty());
  CHECK(quiet == 1060);

  alert_or_repeat(DetectorId::bad_commands, d, 5, quiet, 1060, out, describe);
  REQUIRE(out.size() == 3);
  CHECK(described == 2);  // the quiet window is over: a full alert again
  CHECK(out[2].detail == "why");
  CHECK(quiet == 1120);
}

TEST_CASE("engine findings carry the table's id and severity; repeats stay bare") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 12; ++i) e.bad_command(ip(1), 1000 + i, out);
  REQUIRE(out.size() == 3);  // at 10, 11 and 12
  CHECK(out[0].id == DetectorId::bad_commands);
  CHECK(out[0].severity == "warning");
  CHECK(out[0].detail == "10 bad commands");
  CHECK(out[1].detail.empty());
  CHECK(out[2].count == 12);
}

TEST_CASE("anomaly dispatches on the DetectorId") {
  config::Detectors cfg;
  Engine e(cfg);
  for (const auto& k : config::kDetectors) {
    CAPTURE(k.name);
    Findings out;
    e.anomaly(k.id, "detail", out);
    if (k.counts != config::Counts::occurrence && k.counts != config::Counts::session) {
      CHECK(out.empty());  // windowed detectors are not fed one occurrence at a time
      continue;
    }
    REQUIRE(out.size() == 1);
    CHECK(out[0].id == k.id);
    CHECK(out[0].type == k.name);
    CHECK(out[0].severity == k.severity);
    CHECK(out[0].count == 1);
    CHECK(out[0].threshold == 1);
    CHECK(out[0].detail == "detail");
  }
  Findings out;
  e.anomaly(DetectorId::smuggling, "LF.LF", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].severity == "critical");
}

TEST_CASE("protocol anomalies map to detectors of the same name, and only those") {
  CHECK(detector_for(proto::Anomaly::pregreet) == DetectorId::pregreet);
  CHECK(detector_for(proto::Anomaly::smuggling) == DetectorId::smuggling);
  CHECK(detector_for(proto::Anomaly::starttls_injection) == DetectorId::starttls_injection);
  CHECK_FALSE(detector_for(proto::Anomaly::long_line).has_value());
  CHECK_FALSE(detector_for(proto::Anomaly::bare_lf).has_value());
  std::size_t mapped = 0;
  for (std::size_t a = 0; a < proto::anomaly_count; ++a) mapped += detector_for(static_cast<proto::Anomaly>(a)).has_value();
  CHECK(mapped == 3);
}

TEST_CASE("a reconfigure on one thread is seen by the next event on another") {
  config::Detectors cfg;
  Engine e(cfg);
  std::promise<void> reconfigured;
  std::size_t before = 99, after = 99;
  std::uint64_t seen_threshold = 0;
  std::thread worker([&] {
    Findings out;
    // This thread caches the first config: threshold 5, three failures are not enough.
    for (int i = 0; i < 3; ++i) e.auth(ip(2), "bob", AuthOutcome::failure, {}, 1000 + i, out);
    before = out.size();
    reconfigured.get_future().wait();
    e.auth(ip(2), "bob", AuthOutcome::failure, {}, 1003, out);
    after = out.size();
    if (!out.empty()) seen_threshold = out.back().threshold;
  });
  // Give the worker time to cache the old config, so the test is about the refresh.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cfg.auth_bruteforce.threshold = 4;
  e.reconfigure(cfg);
  reconfigured.set_value();
  worker.join();
  CHECK(before == 0);
  CHECK(after == 1);
  CHECK(seen_threshold == 4);
}

TEST_CASE("engines sharing a thread, or an address, never see each other's config") {
  config::Detectors low, high;
  low.bad_commands.threshold = 1;
  high.bad_commands.threshold = 1000;
  Findings out;
  {
    Engine a(low), b(high);
    a.bad_command(ip(3), 1000, out);
    b.bad_command(ip(3), 1000, out);
    a.bad_command(ip(4), 1000, out);
    CHECK(out.size() == 2);
  }
  // A new engine built where an old one was gets its own config, not the cached one.
  std::optional<Engine> e;
  e.emplace(low);
  out.clear();
  e->bad_command(ip(5), 1000, out);
  CHECK(out.size() == 1);
  e.reset();
  e.emplace(high);
  out.clear();
  e->bad_command(ip(5), 1000, out);
  CHECK(out.empty());
}

TEST_CASE("concurrent events and reconfigures") {
  config::Detectors cfg;
  Engine e(cfg);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (std::uint8_t t = 0; t < 2; ++t)
    workers.emplace_back([&, t] {
      Findings out;
      for (std::uint32_t i = 0; !stop.load(); ++i) {
        e.bad_command(ip(static_cast<std::uint8_t>(10 + t)), 1000 + i / 100, out);
        out.clear();
      }
    });
  for (std::uint64_t i = 1; i <= 200; ++i) {
    cfg.bad_commands.threshold = i;
    e.reconfigure(cfg);
  }
  stop = true;
  for (auto& w : workers) w.join();
  Findings out;
  e.bad_command(ip(20), 5000, out);
  CHECK(out.empty());  // threshold 200 now
}
