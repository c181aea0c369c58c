// A recording stand-in for the daemon's sinks: what sense wrote, in order.
#pragma once

#include "daemon/sense/outputs.hpp"

#include <string>
#include <vector>

namespace smtp::daemon::test {

struct FakeOutputs final : Outputs {
  bool transcripts_on = true;
  bool store_on = true;
  std::vector<std::string> lines;  // "[lcid] text"
  std::vector<Alert> alerts;
  std::vector<store::SessionRecord> rows;
  bool share_on = false;
  std::vector<detect::DetectorEvent> shared;

  bool transcribing() const override { return transcripts_on; }
  void transcript(std::uint64_t lcid, std::string_view text) override {
    lines.push_back("[" + std::to_string(lcid) + "] " + std::string(text));
  }
  void alert(const Alert& a) override { alerts.push_back(a); }
  bool storing() const override { return store_on; }
  void store(store::SessionRecord row) override { rows.push_back(std::move(row)); }
  bool sharing() const override { return share_on; }
  void share(detect::DetectorEvent e) override { shared.push_back(std::move(e)); }
};

}  // namespace smtp::daemon::test
