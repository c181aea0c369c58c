// What every relay session of one listener shares: its config, its upstream, its live count.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/relay/tls_context.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace smtp::daemon {

struct ListenerRuntime {
  config::Listener config;
  ObserverFactory* observers = nullptr;
  std::optional<tcp::endpoint> upstream;  // empty: the connection's original destination
  std::atomic<std::uint32_t> active{0};
  // tls.mode terminate: replaced whole on SIGHUP; a session keeps the one it started with.
  std::atomic<std::shared_ptr<const TlsContexts>> tls;
};

}  // namespace smtp::daemon
