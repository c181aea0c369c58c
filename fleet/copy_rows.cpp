#include "fleet/copy_rows.hpp"

#include "text/json.hpp"

#include <charconv>
#include <cstdint>

namespace smtp::fleet {
namespace {

template <typename T>
void append_number(std::string& out, T v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

void append_copy_text(std::string& out, std::string_view s) {
  while (!s.empty()) {
    const std::size_t n = text::utf8_sequence(s);
    if (n == 0 || s[0] == '\0') {
      out += "\xEF\xBF\xBD";
      s.remove_prefix(1);
      continue;
    }
    if (n == 1) {
      switch (s[0]) {
        case '\\': out += "\\\\"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        default: out += s[0];
      }
    } else {
      out.append(s.data(), n);
    }
    s.remove_prefix(n);
  }
}

void append_copy_row(std::string& out, std::string_view sensor, const store::SessionRecord& r) {
  auto text = [&](std::string_view s) {
    append_copy_text(out, s);
    out += '\t';
  };
  auto num = [&](auto v) {
    append_number(out, v);
    out += '\t';
  };
  auto boolean = [&](bool b) { out += b ? "t\t" : "f\t"; };
  text(sensor);
  // Identity is (sensor, lcid). LCIDs count from milliseconds since 2025 (relay/lcid.hpp),
  // far below 2^63, so bigint holds them.
  num(static_cast<std::int64_t>(r.lcid));
  num(r.start_ms);
  num(r.end_ms);
  text(r.listener);
  text(r.client_ip);
  num(r.client_port);
  text(r.upstream);
  text(r.helo);
  boolean(r.tls);
  text(r.tls_version);
  text(r.tls_cipher);
  text(r.auth_user);
  text(r.auth_result);
  text(r.domain);
  num(r.messages);
  num(r.recipients);
  num(r.commands);
  num(r.bad_commands);
  num(r.permanent_failures);
  text(r.termination);
  boolean(r.blocked);
  num(static_cast<std::int64_t>(r.bytes_in));
  num(static_cast<std::int64_t>(r.bytes_out));
  out += r.outbound ? "1\t" : "0\t";  // direction
  text(r.user);
  out.back() = '\n';
}

}  // namespace smtp::fleet
