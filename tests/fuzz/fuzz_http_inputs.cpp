// libFuzzer target for what an HTTP client sends: the report's query string (GET /report),
// parsed and checked, a time parameter of the investigation endpoints, and an Authorization
// header. Each is refused (QueryError, nullopt) or gives values within their bounds;
// nothing else is thrown, and an accepted time written back as UTC reads the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/http/basic_auth.hpp"
#include "daemon/http/time_param.hpp"
#include "report/query.hpp"
#include "text/url_query.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace smtp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto params = text::parse_query_string(text))
    for (const auto& p : *params)
      if (p.name.size() + p.value.size() > size) std::abort();  // decoding only shortens
  try {
    const report::Query q = report::parse_query(report::parse_url_query(text), report::Syntax::http, report::Format::json);
    if (q.to < q.from || !q.from.ok() || !q.to.ok() || q.zone.empty()) std::abort();
    if (q.top && *q.top == 0) std::abort();
  } catch (const report::QueryError&) {
  }
  static const date::time_zone& berlin = *date::locate_zone("Europe/Berlin");
  if (const auto ms = daemon::parse_time_param(text, berlin, (size & 1) != 0)) {
    const date::sys_time<std::chrono::milliseconds> at{std::chrono::milliseconds{*ms}};
    if (*ms >= 0 && *ms < 253402300800000)  // years 1970 to 9999: what %F writes back as four digits
      if (daemon::parse_time_param(date::format("%FT%TZ", at), berlin, false) != *ms) std::abort();
  }
  if (const auto creds = daemon::BasicAuth::decode(text))
    if (creds->first.size() + creds->second.size() >= size) std::abort();
  return 0;
}
