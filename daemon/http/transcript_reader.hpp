// Reads one session's lines back from the rotated transcript files (SPEC section 13),
// starting where the store says the writer stood as the session opened.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace smtp::daemon {

struct TranscriptScanLimits {
  std::uint64_t max_scan = 512ull << 20;   // bytes read at most, over all files
  std::size_t max_body = 4u << 20;         // lines returned at most, in bytes
  std::chrono::milliseconds budget{3000};  // wall time
};

struct TranscriptScan {
  enum class Outcome { found, file_gone, no_lines } outcome = Outcome::no_lines;
  std::string text;  // the session's lines, each ending in '\n'
  bool complete = false;  // its closing line was seen
  std::string stopped;    // why the scan stopped early, "" when it did not
  std::uint64_t scanned = 0;
};

// files[0] is the file being written, files[i] the one rotated i times. Finds the file
// whose inode is `file` and reads on from `offset` to the newer files, keeping the lines
// of lcid, until that session's closing line or a limit. file == 0 reads the tail
// (max_scan bytes) of files[0]: a session that is still open or was never stored.
TranscriptScan scan_transcript(const std::vector<std::string>& files, std::uint64_t lcid, std::uint64_t file,
                               std::uint64_t offset, const TranscriptScanLimits& limits = {});

}  // namespace smtp::daemon
