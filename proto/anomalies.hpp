// Protocol anomalies the decoder reports, with the stable names used by metrics, alerts and transcripts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

// The identifier is also the stable name. Append only: names are user-visible.
#define SMTP_PROTO_ANOMALIES(X)                                                                  \
  X(pregreet)                   /* the client talked before the server's greeting */             \
  X(unmatched_reply)            /* a reply with no command waiting for it */                     \
  X(pipelining_after_data)      /* client bytes after DATA, before its 354 */                    \
  X(long_line)                  /* a line longer than Limits::max_line */                        \
  X(bare_lf)                    /* a line ended by LF without CR */                              \
  X(bare_cr)                    /* a CR not followed by LF inside a line */                      \
  X(non_ascii_command)          /* a command line with bytes outside printable ASCII */          \
  X(excessive_pending_commands) /* more commands awaiting replies than Limits::max_pending */    \
  X(bdat_overrun)               /* BDAT chunks beyond the declared or offered SIZE, or garbage  \
                                   where the next command should follow a chunk */               \
  X(smuggling)                  /* an end-of-data look-alike with bare LF or CR inside DATA */   \
  X(starttls_injection)         /* client bytes pipelined after STARTTLS, before its reply */    \
  X(invalid_reply)              /* a server line that is not an SMTP reply */                    \
  X(sniffing_off)               /* decoding gave up on a hopeless desync; relaying goes on */

namespace smtp::proto {

enum class Anomaly : std::uint8_t {
#define SMTP_PROTO_ANOMALY_ENUM(id) id,
  SMTP_PROTO_ANOMALIES(SMTP_PROTO_ANOMALY_ENUM)
#undef SMTP_PROTO_ANOMALY_ENUM
};

inline constexpr std::size_t anomaly_count = 0
#define SMTP_PROTO_ANOMALY_COUNT(id) +1
    SMTP_PROTO_ANOMALIES(SMTP_PROTO_ANOMALY_COUNT)
#undef SMTP_PROTO_ANOMALY_COUNT
    ;

constexpr std::string_view to_string(Anomaly a) noexcept {
  switch (a) {
#define SMTP_PROTO_ANOMALY_NAME(id) \
  case Anomaly::id:                 \
    return #id;
    SMTP_PROTO_ANOMALIES(SMTP_PROTO_ANOMALY_NAME)
#undef SMTP_PROTO_ANOMALY_NAME
  }
  return "unknown";
}

}  // namespace smtp::proto
