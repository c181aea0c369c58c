#include "daemon/sense/listener_sense.hpp"

#include "daemon/sense/sensor_session.hpp"

namespace smtp::daemon {

std::unique_ptr<SessionObserver> ListenerSense::open(std::uint64_t lcid, const config::Config& config) {
  return std::make_unique<SensorSession>(*this, config, lcid);
}

void ListenerSense::on_over_capacity() {
  metrics_.connections->Increment();
  metrics_.count(BlockReason::max_connections);
}

}  // namespace smtp::daemon
