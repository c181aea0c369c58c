#include "daemon/control/control_protocol.hpp"

#include "config/units.hpp"

#include <algorithm>

namespace smtp::daemon::control {
namespace {

std::string_view next_word(std::string_view& rest) {
  const auto start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const auto end = std::min(rest.find(' '), rest.size());
  const auto word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;  // UTF-8 bytes pass; control bytes do not
  });
}

}  // namespace

std::string_view help_text() {
  return "list\n"
         "add IP|CIDR [ttl=DURATION] [action=flag|block] [reason=TEXT]\n"
         "remove IP|CIDR\n"
         "help\n"
         "quit\n";
}

std::variant<Request, ParseError> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() >= kMaxLine) return ParseError{"request longer than " + std::to_string(kMaxLine) + " bytes"};
  if (!printable(line)) return ParseError{"control characters in the request"};
  std::string_view rest = line;
  const auto verb = next_word(rest);
  Request r;
  if (verb.empty()) return ParseError{"empty request; try help"};
  auto no_more = [&]() -> std::optional<ParseError> {
    if (!next_word(rest).empty()) return ParseError{std::string(verb) + " takes no arguments"};
    return std::nullopt;
  };
  if (verb == "list" || verb == "help" || verb == "quit") {
    if (auto e = no_more()) return *e;
    r.verb = verb == "list" ? Verb::list : verb == "help" ? Verb::help : Verb::quit;
    return r;
  }
  if (verb != "add" && verb != "remove") return ParseError{"unknown command '" + std::string(verb.substr(0, 32)) + "'; try help"};
  r.verb = verb == "add" ? Verb::add : Verb::remove;
  const auto target = next_word(rest);
  if (target.empty()) return ParseError{std::string(verb) + " needs an IP address or a CIDR network"};
  if (target.size() > 64 || target.find('=') != std::string_view::npos)
    return ParseError{"not an IP address or CIDR network: " + std::string(target.substr(0, 64))};
  r.target = target;
  if (r.verb == Verb::remove) {
    if (auto e = no_more()) return *e;
    return r;
  }
  bool seen_ttl = false, seen_action = false;
  while (true) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    if (rest.starts_with("reason=")) {
      r.reason = rest.substr(7);
      while (!r.reason.empty() && r.reason.back() == ' ') r.reason.pop_back();
      if (r.reason.size() > kMaxReason) return ParseError{"reason longer than " + std::to_string(kMaxReason) + " bytes"};
      break;
    }
    const auto word = next_word(rest);
    const auto eq = word.find('=');
    const auto key = word.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : word.substr(eq + 1);
    if (key == "ttl" && !seen_ttl) {
      seen_ttl = true;
      const auto d = config::parse_duration(value);
      if (!d || d->count() <= 0) return ParseError{"ttl: expected a duration like 30m, 1h or 7d, got '" + std::string(value.substr(0, 32)) + "'"};
      if (*d > std::chrono::hours(24 * 3650)) return ParseError{"ttl: at most ten years"};
      r.ttl = *d;
    } else if (key == "action" && !seen_action) {
      seen_action = true;
      if (value == "block") r.block = true;
      else if (value == "flag") r.block = false;
      else return ParseError{"action: expected flag or block, got '" + std::string(value.substr(0, 32)) + "'"};
    } else {
      return ParseError{"unexpected '" + std::string(word.substr(0, 32)) + "'; add takes ttl=, action= and reason="};
    }
  }
  return r;
}

}  // namespace smtp::daemon::control
