#include "daemon/sense/session_counters.hpp"

#include <algorithm>

namespace smtp::daemon {

SessionCounters::SessionCounters(Metrics& all, ListenerMetrics& listener) : all_(all), m_(listener) {
  m_.connections->Increment();
  m_.active->Increment();
}

SessionCounters::~SessionCounters() { m_.active->Decrement(); }

void SessionCounters::command(const proto::Command& c) {
  m_.commands[static_cast<std::size_t>(c.verb)]->Increment();
  if (c.invalid) bad_command();
}

void SessionCounters::reply(const proto::Reply& r) {
  if (const int k = r.klass(); k >= 2 && k <= 5) m_.replies[static_cast<std::size_t>(k - 2)]->Increment();
  if (r.bad_command) bad_command();
  if (r.permanent_failure()) {
    if (const auto stage = failure_stage_index(r.stage)) m_.permanent_failures[*stage]->Increment();
    m_.count(Termination::permanent_failure);
  }
}

void SessionCounters::auth(const proto::AuthAttempt& a) {
  const auto mech = std::min(static_cast<std::size_t>(a.mechanism), proto::auth_mechanism_count - 1);
  m_.auth[mech][static_cast<std::size_t>(a.result)]->Increment();
}

void SessionCounters::closed(Termination reason, std::chrono::duration<double> lasted) {
  if (reason != Termination::quit) m_.count(reason);  // a graceful QUIT is not a termination
  m_.session_duration->Observe(lasted.count());
}

void SessionCounters::domain(const std::string& name, std::uint32_t messages, std::uint64_t bytes) {
  auto& dm = all_.domain(name);
  dm.connections->Increment();
  if (messages) dm.messages->Increment(messages);
  dm.bytes->Increment(static_cast<double>(bytes));
}

}  // namespace smtp::daemon
