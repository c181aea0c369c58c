// One finished session as the store keeps it (SPEC section 8).
#pragma once

#include <cstdint>
#include <string>

namespace smtp::store {

struct SessionRecord {
  std::uint64_t lcid = 0;
  std::int64_t start_ms = 0;  // Unix time, milliseconds
  std::int64_t end_ms = 0;
  std::string listener;
  std::string client_ip;
  std::uint16_t client_port = 0;
  std::string upstream;
  std::string helo;
  bool tls = false;
  std::string tls_version;  // e.g. TLSv1.3, when the sensor terminated TLS
  std::string tls_cipher;
  std::string auth_user;
  std::string auth_result;  // "", success, failure, unadvertised, aborted
  std::string domain;
  // SPEC 14 (schema v7): the listener's direction, and the session's user as the report
  // counts it (inbound the AUTH user once AUTH succeeded; outbound by user_from, the
  // envelope sender unless AUTH succeeded). Rows written before v7 read as inbound.
  bool outbound = false;
  std::string user;
  std::uint32_t messages = 0;
  std::uint32_t recipients = 0;
  std::uint32_t commands = 0;
  std::uint32_t bad_commands = 0;
  std::uint32_t permanent_failures = 0;
  std::string termination;  // quit, client_abort, ...
  bool blocked = false;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  // Where the transcript writer stood as the session opened (inode, byte offset); its
  // first line is at or after it. 0, 0 when transcripts were off.
  std::uint64_t transcript_file = 0;
  std::uint64_t transcript_offset = 0;
};

}  // namespace smtp::store
