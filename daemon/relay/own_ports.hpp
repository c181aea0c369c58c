// The local ports of the sensor's own connections to original destinations, to catch a rule that redirects them back.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace smtp::daemon {

// If the interception rule also catches the sensor's own upstream connection (the
// sensor runs as the MTA's user, or the rule has no owner match), that connection comes
// back to the listener with the same original destination, and each round would dial
// again. The original destination cannot tell: it is the real remote. The client can:
// it is one of our own upstream sockets. Such sockets are bound before they connect,
// so their port is known (and registered) before the SYN leaves.
// One counter per port (an IPv4 and an IPv6 socket may share one): no lock, 64 KiB.
class OwnPorts {
 public:
  static void add(std::uint16_t port) { counts()[port].fetch_add(1, std::memory_order_relaxed); }
  static void remove(std::uint16_t port) { counts()[port].fetch_sub(1, std::memory_order_relaxed); }
  static bool contains(std::uint16_t port) { return counts()[port].load(std::memory_order_relaxed) != 0; }

 private:
  static std::array<std::atomic<std::uint8_t>, 65536>& counts() {
    static std::array<std::atomic<std::uint8_t>, 65536> c{};
    return c;
  }
};

// A registered port for as long as the session holds its upstream socket.
class OwnPort {
 public:
  OwnPort() = default;
  OwnPort(const OwnPort&) = delete;
  OwnPort& operator=(const OwnPort&) = delete;
  ~OwnPort() { reset(); }
  void set(std::uint16_t port) {
    reset();
    port_ = port;
    OwnPorts::add(port);
  }
  void reset() {
    if (port_ != 0) OwnPorts::remove(port_);
    port_ = 0;
  }

 private:
  std::uint16_t port_ = 0;
};

}  // namespace smtp::daemon
