// The sense room's test seam: one listener's sense wired to fake sinks and a private
// metrics registry, fed bytes as the relay would feed them.
#pragma once

#include "daemon/sense/listener_sense.hpp"
#include "daemon/sense/sensor.hpp"
#include "tests/sense/fake_outputs.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

namespace smtp::daemon::test {

struct Rig {
  explicit Rig(config::Config c = {}) : cfg(std::move(c)) {
    cfg.allow.clear();  // the tests play clients from 127.0.0.0/8
    sensor = std::make_unique<Sensor>(cfg, metrics, outputs);
    listener = std::make_unique<ListenerSense>(*sensor, 0, metrics.listener(cfg.listeners.front().name));
  }
  std::unique_ptr<SessionObserver> open(std::uint64_t lcid, std::string_view ip = "192.0.2.7",
                                        const std::string& upstream = "127.0.0.1:25", std::uint16_t port = 40000) {
    auto s = listener->open(lcid, cfg);
    admission = s->on_client({asio::ip::make_address(ip), port}, upstream);
    return s;
  }
  double counter(prometheus::Counter* c) const { return c->Value(); }
  ListenerMetrics& m() { return listener->metrics(); }
  double blocked(BlockReason r) { return m().blocked[static_cast<std::size_t>(r)]->Value(); }
  std::size_t alerts(std::string_view type) const {
    return static_cast<std::size_t>(
        std::count_if(outputs.alerts.begin(), outputs.alerts.end(), [&](const Alert& a) { return a.type == type; }));
  }

  config::Config cfg;
  Metrics metrics;
  FakeOutputs outputs;
  std::unique_ptr<Sensor> sensor;
  std::unique_ptr<ListenerSense> listener;
  Admission admission = Admission::relay;
};

// What a client sends in AUTH (OpenSSL's encoder, independent of the decoder under test).
inline std::string base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                                static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline void client(SessionObserver& s, std::string_view bytes) {
  s.on_data(Dir::client_to_server, {bytes.data(), bytes.size()});
}
inline void server(SessionObserver& s, std::string_view bytes) {
  s.on_data(Dir::server_to_client, {bytes.data(), bytes.size()});
}

}  // namespace smtp::daemon::test
