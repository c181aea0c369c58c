// Where sense writes what it concluded: transcript lines, alerts, store rows.
#pragma once

#include "daemon/sinks/alert_log.hpp"
#include "daemon/sinks/transcript_log.hpp"
#include "detect/detector_event.hpp"
#include "store/session_store.hpp"

#include <cstdint>
#include <string_view>

namespace smtp::daemon {

// The daemon hands each to its sink (sink_outputs.hpp); the unit tests record them.
// Every call comes from a session's thread and must not block.
class Outputs {
 public:
  virtual ~Outputs() = default;
  virtual bool transcribing() const = 0;  // false: transcripts are off, format nothing
  // One line's text, after the timestamp and LCID that the transcript adds.
  virtual void transcript(std::uint64_t lcid, std::string_view text) = 0;
  virtual void alert(const Alert& alert) = 0;
  virtual bool storing() const = 0;  // false: the store is off, build no row
  virtual void store(store::SessionRecord row) = 0;
  // Where the transcript writer stands now (file inode, offset): a session keeps it from
  // its first line so GET /transcript finds its lines without scanning (SPEC 13).
  virtual TranscriptPosition transcript_position() const { return {}; }
  // SPEC 10, shared counts: what the detectors just counted, for the other sensors of the
  // fleet. sharing() false (no fleet, or share_counts off): build no event.
  virtual bool sharing() const { return false; }
  virtual void share(detect::DetectorEvent) {}
};

}  // namespace smtp::daemon
