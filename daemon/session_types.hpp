// Small shared vocabularies of a session's life: how it ended and why it was refused.
#pragma once

#include "proto/events.hpp"

#include <array>
#include <cstdint>
#include <string_view>

namespace smtp::daemon {

// How a session ended (SPEC section 4). Ours: `shutdown`, for sessions the daemon closed
// when the drain grace ran out, and `permanent_failure`, the terminations_total reason
// for 5xx answers to MAIL, RCPT, DATA or end-of-data (SPEC counts those as terminations).
#define SMTP_SENSOR_TERMINATIONS(X) \
  X(quit) X(client_abort) X(server_close) X(idle_timeout) X(upstream_error) X(blocked) X(shutdown) X(permanent_failure)

enum class Termination : std::uint8_t {
#define X(name) name,
  SMTP_SENSOR_TERMINATIONS(X)
#undef X
};
inline constexpr auto kTerminationNames = std::to_array<std::string_view>({
#define X(name) #name,
    SMTP_SENSOR_TERMINATIONS(X)
#undef X
});

// Why a connection counted as blocked. upstream_refused: an inbound listener's upstream
// refused at the greeting; remote_refused: on an outbound listener, the remote server
// refused us (SPEC 14: a 554 or 421 greeting, or a 5xx to EHLO or MAIL naming a block list);
// max_connections_per_client: the client already held that many sessions on the listener.
#define SMTP_SENSOR_BLOCK_REASONS(X) \
  X(deny) X(flagged) X(upstream_refused) X(proxy_protocol) X(max_connections) X(remote_refused) X(max_connections_per_client)

enum class BlockReason : std::uint8_t {
#define X(name) name,
  SMTP_SENSOR_BLOCK_REASONS(X)
#undef X
};
inline constexpr auto kBlockReasonNames = std::to_array<std::string_view>({
#define X(name) #name,
    SMTP_SENSOR_BLOCK_REASONS(X)
#undef X
});

// A terminated TLS handshake: which side, and how it went.
enum class TlsSide : std::uint8_t { client, upstream };
enum class TlsResult : std::uint8_t { success, failure, timeout };
inline constexpr std::array<std::string_view, 2> kTlsSideNames{"client", "upstream"};
inline constexpr std::array<std::string_view, 3> kTlsResultNames{"success", "failure", "timeout"};

inline std::string_view to_string(Termination t) { return kTerminationNames[static_cast<std::size_t>(t)]; }
inline std::string_view to_string(BlockReason r) { return kBlockReasonNames[static_cast<std::size_t>(r)]; }
inline std::string_view to_string(TlsSide s) { return kTlsSideNames[static_cast<std::size_t>(s)]; }

using proto::Dir;

}  // namespace smtp::daemon
