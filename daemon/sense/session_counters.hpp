// One session's share of the Prometheus counters: each event becomes increments.
#pragma once

#include "daemon/session_types.hpp"
#include "daemon/sinks/metrics.hpp"
#include "proto/anomalies.hpp"
#include "proto/events.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace smtp::daemon {

// Bytes are counted here once: the relay reports them and counts nothing itself.
class SessionCounters {
 public:
  SessionCounters(Metrics& all, ListenerMetrics& listener);  // counts the connection
  ~SessionCounters();                                         // and its end as an active one
  SessionCounters(const SessionCounters&) = delete;
  SessionCounters& operator=(const SessionCounters&) = delete;

  void bytes(Dir dir, std::size_t n) { (dir == Dir::client_to_server ? m_.bytes_in : m_.bytes_out)->Increment(static_cast<double>(n)); }
  void command(const proto::Command& c);
  void bad_command() { m_.bad_commands->Increment(); }
  void reply(const proto::Reply& r);  // its class, a permanent failure
  void message() { m_.messages->Increment(); }
  void auth(const proto::AuthAttempt& a);
  void anomaly(proto::Anomaly kind) { m_.anomalies[static_cast<std::size_t>(kind)]->Increment(); }
  void tls_handshake(TlsSide side, TlsResult result) { m_.count(side, result); }
  void blocked(BlockReason reason) { m_.count(reason); }
  void upstream_error() { m_.upstream_errors->Increment(); }
  void out_of_descriptors() { m_.out_of_descriptors->Increment(); }
  void upstream_connected(std::chrono::duration<double> took) { m_.upstream_connect->Observe(took.count()); }
  void closed(Termination reason, std::chrono::duration<double> lasted);
  void domain(const std::string& name, std::uint32_t messages, std::uint64_t bytes);

 private:
  Metrics& all_;
  ListenerMetrics& m_;
};

}  // namespace smtp::daemon
