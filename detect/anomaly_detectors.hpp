// Which detector, if any, a protocol anomaly feeds: those named alike (pregreet, smuggling, ...).
#pragma once

#include "config/detector_list.hpp"
#include "proto/anomalies.hpp"

#include <array>
#include <optional>

namespace smtp::detect {

namespace anomaly_detail {
// Matched by name once, at compile time, so the session's hot path indexes an array.
inline constexpr auto kDetectorOf = [] {
  std::array<std::optional<config::DetectorId>, proto::anomaly_count> map{};
  for (std::size_t a = 0; a < map.size(); ++a)
    for (const auto& d : config::kDetectors)
      if (d.counts == config::Counts::occurrence && d.name == proto::to_string(static_cast<proto::Anomaly>(a)))
        map[a] = d.id;
  return map;
}();

// Every one-occurrence detector must be fed by an anomaly of the same name, or it never fires.
constexpr bool every_occurrence_detector_is_fed() {
  for (const auto& d : config::kDetectors) {
    if (d.counts != config::Counts::occurrence) continue;
    bool fed = false;
    for (const auto& id : kDetectorOf) fed = fed || id == d.id;
    if (!fed) return false;
  }
  return true;
}
static_assert(every_occurrence_detector_is_fed());
}  // namespace anomaly_detail

constexpr std::optional<config::DetectorId> detector_for(proto::Anomaly a) {
  return anomaly_detail::kDetectorOf[static_cast<std::size_t>(a)];
}

}  // namespace smtp::detect
