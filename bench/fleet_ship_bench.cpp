// Shipping rate into PostgreSQL (SPEC 10): runs the daemon's fleet Shipper over a store
// built by bench/report_store_gen and times it until the backlog is 0. Not a test: it
// prints figures. bench/fleet_bench.py starts the server and runs it for four sensors.
//
//   bench/fleet_ship_bench STORE.db URL SENSOR [BATCH]
#include "fleet/shipper.hpp"
#include "store/ship_source.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace std::chrono;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: fleet_ship_bench STORE.db URL SENSOR [BATCH]\n");
    return 2;
  }
  smtp::fleet::ShipperOptions o;
  o.store_path = argv[1];
  o.connect.url = argv[2];
  o.sensor = argv[3];
  if (argc > 4) o.batch = std::strtoul(argv[4], nullptr, 10);
  std::uint64_t total = 0;
  {
    smtp::store::ShipSource src(o.store_path);
    src.set_mark(0);  // ship everything, every run
    total = src.backlog(0);
  }
  const auto t0 = steady_clock::now();
  smtp::fleet::Shipper shipper(o, [](int, const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); });
  while (shipper.shipped() < total) {
    std::this_thread::sleep_for(milliseconds(20));
    if (steady_clock::now() - t0 > minutes(30)) {
      std::fprintf(stderr, "gave up after 30 minutes at %llu of %llu\n", static_cast<unsigned long long>(shipper.shipped()),
                   static_cast<unsigned long long>(total));
      return 1;
    }
  }
  const double s = duration<double>(steady_clock::now() - t0).count();
  std::printf("%s: shipped %llu sessions in %.2f s: %.0f sessions/s (batch %zu)\n", o.sensor.c_str(),
              static_cast<unsigned long long>(total), s, static_cast<double>(total) / s, o.batch);
  // Then the packed units (after the sessions, as the shipper orders them).
  smtp::store::ShipSource src(o.store_path);
  while (src.pack_backlog() > 0) {
    std::this_thread::sleep_for(milliseconds(20));
    if (steady_clock::now() - t0 > minutes(30)) {
      std::fprintf(stderr, "gave up shipping packs after 30 minutes\n");
      return 1;
    }
  }
  std::printf("%s: and its packed units in %.2f s more\n", o.sensor.c_str(),
              duration<double>(steady_clock::now() - t0).count() - s);
  return 0;
}
