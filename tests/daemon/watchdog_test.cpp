#include "daemon/watchdog.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace smtp;
using namespace smtp::daemon;
using namespace std::chrono_literals;

namespace {

// Two "I/O threads" with their own io_context, as the daemon's workers have.
struct Workers {
  asio::io_context a{1}, b{1};
  asio::executor_work_guard<asio::io_context::executor_type> ga = asio::make_work_guard(a), gb = asio::make_work_guard(b);
  std::thread ta{[this] { a.run(); }}, tb{[this] { b.run(); }};
  ~Workers() {
    ga.reset();
    gb.reset();
    a.stop();
    b.stop();
    ta.join();
    tb.join();
  }
};

}  // namespace

TEST_CASE("watchdog pings while every worker answers, and stops while one is wedged") {
  Workers w;
  asio::io_context control{1};
  std::vector<std::string> sent;
  Watchdog dog(control, {&w.a, &w.b}, 20ms, [&](std::string_view t) { sent.emplace_back(t); });
  dog.start();
  CHECK(dog.pings() == 1);  // the first ping goes out at once
  control.run_for(300ms);
  const auto healthy = dog.pings();
  CHECK(healthy >= 5);
  for (const auto& s : sent) CHECK(s == "WATCHDOG=1");

  // Wedge worker b: it runs nothing until released.
  std::promise<void> release;
  std::atomic<bool> entered{false};
  asio::post(w.b, [&, f = release.get_future().share()] {
    entered = true;
    f.wait();
  });
  while (!entered) std::this_thread::sleep_for(1ms);
  control.restart();
  control.run_for(60ms);  // at most one ping from a round b had answered before it wedged
  const auto at_wedge = dog.pings();
  CHECK(at_wedge <= healthy + 1);
  control.restart();
  control.run_for(300ms);
  CHECK(dog.pings() == at_wedge);

  release.set_value();
  control.restart();
  control.run_for(300ms);
  CHECK(dog.pings() >= at_wedge + 5);
  dog.stop();
}

TEST_CASE("watchdog without systemd's variables is off") {
  ::unsetenv("WATCHDOG_USEC");
  CHECK_FALSE(Watchdog::systemd_interval().has_value());
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  const auto i = Watchdog::systemd_interval();
  REQUIRE(i.has_value());
  CHECK(*i == 15000ms);
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  CHECK_FALSE(Watchdog::systemd_interval().has_value());
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}
