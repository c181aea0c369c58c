#include "config/yaml_reader.hpp"

#include "config/units.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <stdexcept>

namespace smtp::config {
namespace {

// Edit distance, for "did you mean" on misspelt keys.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::pair<std::string, std::string_view>> split_host_port(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    return std::pair{std::string(s.substr(1, close - 1)), s.substr(close + 2)};
  }
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || s.find(':') != colon) return std::nullopt;
  return std::pair{std::string(s.substr(0, colon)), s.substr(colon + 1)};
}

std::optional<std::uint16_t> port_number(std::string_view port) {
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || p > 65535 || port.empty()) return std::nullopt;
  return static_cast<std::uint16_t>(p);
}

bool ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void YamlReader::error(const YAML::Mark& m, std::string message) {
  errors_.push_back({file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, std::move(message)});
}

bool YamlReader::scalar(const YAML::Node& n, std::string_view what, std::string& out) {
  if (!n.IsScalar()) {
    error(n.Mark(), std::string(what) + ": expected a single value");
    return false;
  }
  out = n.Scalar();
  return true;
}

void YamlReader::string(const YAML::Node& n, std::string_view what, std::string& out) {
  if (n.IsNull()) out.clear();
  else scalar(n, what, out);
}

void YamlReader::boolean(const YAML::Node& n, std::string_view what, bool& out) {
  std::string s;
  if (!scalar(n, what, s)) return;
  if (s == "true" || s == "yes" || s == "on") out = true;
  else if (s == "false" || s == "no" || s == "off") out = false;
  else error(n.Mark(), std::string(what) + ": expected true or false, got '" + s + "'");
}

void YamlReader::real(const YAML::Node& n, std::string_view what, double& out) {
  std::string s;
  if (!scalar(n, what, s)) return;
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    if (!(v > 0)) return error(n.Mark(), std::string(what) + ": must be greater than 0, got " + s);
    out = v;
  } catch (const std::exception&) {
    error(n.Mark(), std::string(what) + ": expected a number, got '" + s + "'");
  }
}

void YamlReader::duration(const YAML::Node& n, std::string_view what, Duration& out, bool allow_zero) {
  std::string s;
  if (!scalar(n, what, s)) return;
  const auto d = parse_duration(s);
  if (!d) return error(n.Mark(), std::string(what) + ": expected a duration like 30s, 10m, 1h or 2d, got '" + s + "'");
  if (!allow_zero && d->count() == 0) return error(n.Mark(), std::string(what) + ": must be longer than 0");
  out = *d;
}

void YamlReader::size(const YAML::Node& n, std::string_view what, std::uint64_t& out) {
  std::string s;
  if (!scalar(n, what, s)) return;
  const auto v = parse_size(s);
  if (!v) return error(n.Mark(), std::string(what) + ": expected a size like 64KiB or 100MiB, got '" + s + "'");
  if (*v == 0) return error(n.Mark(), std::string(what) + ": must be larger than 0");
  out = *v;
}

void YamlReader::cidrs(const YAML::Node& n, std::string_view what, std::vector<Cidr>& out) {
  out.clear();
  if (n.IsNull()) return;
  if (!n.IsSequence()) return error(n.Mark(), std::string(what) + ": expected a list of CIDRs");
  for (const auto& item : n) {
    std::string s;
    if (!scalar(item, what, s)) continue;
    if (auto c = Cidr::parse(s)) out.push_back(*c);
    else error(item.Mark(), std::string(what) + ": not an IPv4 or IPv6 CIDR: '" + s + "'");
  }
}

void YamlReader::host_port(const YAML::Node& n, std::string_view what, HostPort& out, bool resolve) {
  std::string s;
  if (!scalar(n, what, s)) return;
  auto split = split_host_port(s);
  if (!split && !s.empty() && s.front() == '[')
    return error(n.Mark(), std::string(what) + ": expected [IPv6]:PORT, got '" + s + "'");
  if (!split) return error(n.Mark(), std::string(what) + ": expected HOST:PORT (IPv6 as [addr]:PORT), got '" + s + "'");
  auto& [host, port] = *split;
  const auto p = port_number(port);
  if (!p) return error(n.Mark(), std::string(what) + ": bad port in '" + s + "'");
  if (!ip_literal(host)) {
    if (!resolve) return error(n.Mark(), std::string(what) + ": '" + host + "' is not an IP address");
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
      return error(n.Mark(), std::string(what) + ": cannot resolve host '" + host + "'");
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = res->ai_family == AF_INET
                           ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr);
    inet_ntop(res->ai_family, addr, text, sizeof text);
    freeaddrinfo(res);
    host = text;
  }
  out = {host, *p};
}

bool YamlReader::once(SeenKeys& seen, const YAML::Node& key, std::string_view where) {
  const std::string& name = key.Scalar();
  const auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
  if (first == seen.end()) {
    seen.emplace_back(name, key.Mark().line);
    return true;
  }
  error(key.Mark(), "key '" + name + "' given twice in " + std::string(where) + " (first on line " + std::to_string(first->second + 1) + ")");
  return false;
}

void YamlReader::unknown_key(const YAML::Mark& m, std::string_view where, const std::string& key,
                             const std::vector<std::string_view>& keys) {
  std::string msg = "unknown key '" + key + "' in " + std::string(where);
  std::string_view best;
  std::size_t best_d = 3;
  for (auto k : keys)
    if (auto d = distance(key, k); d < best_d) best = k, best_d = d;  // at most 2 edits away
  if (!best.empty()) msg += "; did you mean '" + std::string(best) + "'?";
  error(m, msg);
}

}  // namespace smtp::config
