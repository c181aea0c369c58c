#include "config/config_loader.hpp"

#include "config/address_rules.hpp"
#include "config/config_sections.hpp"
#include "config/units.hpp"
#include "config/yaml_reader.hpp"

#include <libpq-fe.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace smtp::config {
namespace {

void read_detectors(YamlReader& r, const YAML::Node& n, Detectors& d) {
  std::vector<std::string_view> names;
  for (const auto& k : kDetectors) names.push_back(k.name);
  names.push_back("max_tracked");
  if (!n || n.IsNull()) return;
  if (!n.IsMap()) return r.error(n.Mark(), "detectors: expected a mapping");
  YamlReader::SeenKeys seen_detectors;
  for (const auto& kv : n) {
    const auto name = kv.first.Scalar();
    if (!r.once(seen_detectors, kv.first, "detectors")) continue;
    if (name == "max_tracked") {
      r.integer(kv.second, "detectors.max_tracked", d.max_tracked, 1000, 100'000'000);
      continue;
    }
    const auto id = detector_named(name);
    if (!id) {
      r.unknown(kv.first.Mark(), "detectors", name, names);
      continue;
    }
    const DetectorInfo& keys = info(*id);
    Detector& det = d[*id];
    const std::string where = "detectors." + name;
    std::vector<std::string_view> allowed{"enabled", "action"};
    if (keys.windowed) allowed.push_back("window");
    if (!keys.threshold_key.empty()) allowed.push_back(keys.threshold_key);
    if (!keys.ratio_key.empty()) allowed.push_back(keys.ratio_key);
    const YAML::Node& body = kv.second;
    if (body.IsNull()) continue;
    if (!body.IsMap()) {
      r.error(body.Mark(), where + ": expected a mapping");
      continue;
    }
    YamlReader::SeenKeys seen_keys;
    for (const auto& item : body) {
      const auto key = item.first.Scalar();
      const std::string what = where + "." + key;
      if (!r.once(seen_keys, item.first, where)) continue;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string msg = "unknown key '" + key + "' in " + where + " (takes:";
        for (auto a : allowed) msg.append(" ").append(a);
        r.error(item.first.Mark(), msg + ")");
      } else if (key == "enabled") r.boolean(item.second, what, det.enabled);
      else if (key == "action") {
        r.choice(item.second, what, det.action);
        if (acts_on_accounts_only(*id) && det.action == Action::block)
          r.error(item.second.Mark(), what + ": " + name + " flags an account, never an address, so there is nothing to block");
      }
      else if (key == "window") {
        r.duration(item.second, what, det.window);
        if (std::chrono::duration_cast<std::chrono::seconds>(det.window).count() > kMaxWindowSeconds)
          r.error(item.second.Mark(), what + ": at most 7d (longer windows are not kept)");
      }
      else if (key == keys.threshold_key) r.integer(item.second, what, det.threshold, 1, 1'000'000'000);
      else r.real(item.second, what, det.ratio);
    }
  }
}

template <class S>
void read_field(YamlReader& r, const YAML::Node& v, const std::string& what, const Field<S>& f, S& s) {
  switch (f.kind) {
    case FieldKind::boolean: return r.boolean(v, what, s.*std::get<bool S::*>(f.member));
    case FieldKind::text: return r.string(v, what, s.*std::get<std::string S::*>(f.member));
    case FieldKind::duration: return r.duration(v, what, s.*std::get<Duration S::*>(f.member));
    case FieldKind::duration_or_zero: return r.duration(v, what, s.*std::get<Duration S::*>(f.member), true);
    case FieldKind::size: return r.size(v, what, s.*std::get<std::uint64_t S::*>(f.member));
    case FieldKind::integer: return r.integer(v, what, s.*std::get<std::uint32_t S::*>(f.member), f.min, f.max);
    case FieldKind::line_size: {
      auto& out = s.*std::get<std::uint32_t S::*>(f.member);
      std::uint64_t bytes = out;
      r.size(v, what, bytes);
      if (bytes < f.min || bytes > f.max)
        r.error(v.Mark(), what + ": must be between " + std::to_string(f.min) + " and " + format_size(f.max));
      else out = static_cast<std::uint32_t>(bytes);
      return;
    }
    case FieldKind::listen_address: {
      auto& out = s.*std::get<std::string S::*>(f.member);
      if (v.IsNull() || (v.IsScalar() && v.Scalar().empty())) return out.clear();
      HostPort hp;
      r.host_port(v, what, hp, false);
      if (hp.port != 0) out = hp.text();
      return;
    }
    case FieldKind::reply_line: {
      auto& out = s.*std::get<std::string S::*>(f.member);
      r.string(v, what, out);
      // The reply goes to the client verbatim, so it must be one valid SMTP line.
      if (out.size() < 4 || out[0] != '5' || !isdigit(out[1]) || !isdigit(out[2]) || out[3] != ' ' ||
          out.find_first_of("\r\n") != std::string::npos)
        r.error(v.Mark(), what + ": expected one SMTP reply line like '554 5.7.1 Access denied'");
      return;
    }
    case FieldKind::choice:
      return std::visit(
          [&]<class T>(T S::* m) {
            if constexpr (Worded<T>) r.choice(v, what, s.*m);
          },
          f.member);
    case FieldKind::cidrs: return r.cidrs(v, what, s.*std::get<std::vector<Cidr> S::*>(f.member));
    case FieldKind::host_port: return r.host_port(v, what, s.*std::get<HostPort S::*>(f.member), false);
    case FieldKind::upstream: {
      auto& out = s.*std::get<HostPort S::*>(f.member);
      if (v.IsScalar() && v.Scalar() == kOriginalDestination) return void(out = {});
      return r.host_port(v, what, out, true);
    }
  }
}

template <class S, std::size_t N>
const Field<S>& field_named(const std::array<Field<S>, N>& fields, std::string_view key) {
  return *std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.key == key; });
}

// A mapping whose keys are all in `fields`: each read as its entry says, errors named prefix + key.
template <class S, std::size_t N>
void read_fields(YamlReader& r, const YAML::Node& n, std::string_view where, const std::string& prefix,
                 const std::array<Field<S>, N>& fields, S& s) {
  std::array<std::string_view, N> keys;
  for (std::size_t i = 0; i < N; ++i) keys[i] = fields[i].key;
  r.map_of(n, where, keys, [&](const std::string& k, const YAML::Node& v) { read_field(r, v, prefix + k, field_named(fields, k), s); });
}

// A flat section: each key is read as its table entry says, errors named "section.key".
template <const auto& Sec>
void read_section(YamlReader& r, const YAML::Node& n, Config& c) {
  read_fields(r, n, Sec.name, std::string(Sec.name) + ".", Sec.fields, c.*(Sec.member));
}

void check_tls(YamlReader& r, const YAML::Node& n, const Tls& tls) {
  if (tls.mode != TlsMode::terminate) return;
  for (const auto& [file, what] : {std::pair{tls.cert, "tls.cert"}, std::pair{tls.key, "tls.key"}}) {
    if (file.empty()) r.error(n.Mark(), std::string(what) + ": required with mode: terminate");
    else if (!std::ifstream(file)) r.error(n.Mark(), std::string(what) + ": cannot read '" + file + "'");
  }
  if (tls.verify == TlsVerify::ca_file) {
    if (tls.ca_file.empty()) r.error(n.Mark(), "tls.ca_file: required with verify: ca_file");
    else if (!std::ifstream(tls.ca_file)) r.error(n.Mark(), "tls.ca_file: cannot read '" + tls.ca_file + "'");
  }
}

// One entry of `listeners:`: the table's keys, and tls as a mapping of its own. Errors name
// the key alone ("max_connections: ..."); the line says which listener.
Listener read_listener(YamlReader& r, const YAML::Node& n) {
  Listener l;
  std::vector<std::string_view> keys;
  for (const auto& f : sections::listener) keys.push_back(f.key);
  keys.push_back("tls");
  r.map_of(n, "listener", keys, [&](const std::string& k, const YAML::Node& v) {
    if (k != "tls") return read_field(r, v, k, field_named(sections::listener, k), l);
    read_fields(r, v, "tls", "tls.", sections::listener_tls, l.tls);
    check_tls(r, v, l.tls);
  });
  if (l.name.empty()) r.error(n.Mark(), "listener name must not be empty");
  if (l.source == Source::client && l.direction == Direction::outbound)
    r.error(n.Mark(), "listener '" + l.name + "': source: client is for inbound listeners");
  if (l.proxy_protocol_in && l.trusted_proxies.empty())
    r.error(n.Mark(), "listener '" + l.name + "': proxy_protocol_in needs trusted_proxies");
  return l;
}

// fleet: the flat keys, then the URL as libpq itself parses it (PQconninfoParse), so a
// typo is reported at its line and column here rather than as a retry loop at run time.
void read_fleet(YamlReader& r, const YAML::Node& n, Config& c) {
  read_section<sections::fleet>(r, n, c);
  if (!n.IsMap()) return;
  if (const auto url = n["url"]; url && !c.fleet.url.empty()) {
    char* err = nullptr;
    if (PQconninfoOption* opts = PQconninfoParse(c.fleet.url.c_str(), &err)) {
      PQconninfoFree(opts);
    } else {
      std::string why = err ? err : "not a libpq connection URI";
      PQfreemem(err);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      r.error(url.Mark(), "fleet.url: " + why);
    }
  }
  if (const auto pw = n["password_file"]; pw && !c.fleet.password_file.empty() && !std::ifstream(c.fleet.password_file))
    r.error(pw.Mark(), "fleet.password_file: cannot read '" + c.fleet.password_file + "'");
}

// http: the flat keys from the table, tls as a nested table, basic_auth as user: bcrypt hash.
void read_http(YamlReader& r, const YAML::Node& n, Config& c) {
  std::vector<std::string_view> keys;
  for (const auto& f : sections::http.fields) keys.push_back(f.key);
  keys.push_back("tls");
  keys.push_back("basic_auth");
  r.map_of(n, "http", keys, [&](const std::string& k, const YAML::Node& v) {
    if (k == "tls") {
      read_fields(r, v, "http.tls", "http.tls.", sections::http_tls, c.http.tls);
      if (c.http.tls.cert.empty() != c.http.tls.key.empty())
        r.error(v.Mark(), "http.tls: cert and key go together");
      if (!c.http.tls.client_ca.empty() && c.http.tls.cert.empty())
        r.error(v.Mark(), "http.tls.client_ca: needs cert and key");
      return;
    }
    if (k == "basic_auth") {
      c.http.basic_auth.clear();
      if (!v || v.IsNull()) return;
      if (!v.IsMap()) return r.error(v.Mark(), "http.basic_auth: expected a mapping of user: bcrypt hash");
      YamlReader::SeenKeys seen;
      for (const auto& kv : v) {
        std::string user, hash;
        if (!r.once(seen, kv.first, "http.basic_auth")) continue;
        if (!r.scalar(kv.first, "http.basic_auth", user) || !r.scalar(kv.second, "http.basic_auth." + user, hash)) continue;
        if (user.empty() || user.find(':') != std::string::npos)
          r.error(kv.first.Mark(), "http.basic_auth: a user name must be non-empty and hold no ':'");
        else if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') ||
                 hash[3] != '$')
          r.error(kv.second.Mark(), "http.basic_auth." + user + ": expected a bcrypt hash ($2y$10$... , 60 characters)");
        else c.http.basic_auth.emplace_back(user, hash);
      }
      return;
    }
    read_field(r, v, "http." + k, field_named(sections::http.fields, k), c.http);
  });
}

void read_listeners(YamlReader& r, const YAML::Node& v, Config& c) {
  if (!v.IsSequence() || v.size() == 0) return r.error(v.Mark(), "listeners: expected a list of one or more listeners");
  c.listeners.clear();
  for (const auto& item : v) c.listeners.push_back(read_listener(r, item));
}

void read_threads(YamlReader& r, const YAML::Node& v, Config& c) {
  if (v.IsScalar() && v.Scalar() == "auto") c.threads = 0;
  else r.integer(v, "threads (a number or auto)", c.threads, 1, 256);
}

// The top-level keys, in the order "did you mean" considers them.
struct TopKey {
  std::string_view name;
  void (*read)(YamlReader&, const YAML::Node&, Config&);
};
constexpr TopKey kTopLevel[] = {
    {"listeners", read_listeners},
    {"threads", read_threads},
    {sections::timeouts.name, read_section<sections::timeouts>},
    {sections::limits.name, read_section<sections::limits>},
    {sections::http.name, read_http},
    {sections::control.name, read_section<sections::control>},
    {sections::metrics.name, read_section<sections::metrics>},
    {sections::transcripts.name, read_section<sections::transcripts>},
    {sections::alerts.name, read_section<sections::alerts>},
    {sections::store.name, read_section<sections::store>},
    {"allow", [](YamlReader& r, const YAML::Node& v, Config& c) { r.cidrs(v, "allow", c.allow); }},
    {"deny", [](YamlReader& r, const YAML::Node& v, Config& c) { r.cidrs(v, "deny", c.deny); }},
    {"detectors", [](YamlReader& r, const YAML::Node& v, Config& c) { read_detectors(r, v, c.detectors); }},
    {sections::addresses.name, read_section<sections::addresses>},
    {sections::flag.name, read_section<sections::flag>},
    {sections::sensor.name, read_section<sections::sensor>},
    {sections::fleet.name, read_fleet},
};

// Where an error about listener i is placed: the node of `key` in its entry when the file
// has one (a default has none), else the entry, else the top. A lookup that finds none
// must not throw from here.
YAML::Mark listener_mark(const YAML::Node& root, std::size_t i, const char* key = nullptr) {
  const YAML::Node entries = root.IsMap() ? root["listeners"] : YAML::Node();
  const YAML::Node entry = entries.IsSequence() && i < entries.size() ? entries[i] : YAML::Node();
  if (!entry) return root.Mark();
  return key && entry.IsMap() && entry[key] ? entry[key].Mark() : entry.Mark();
}

std::string overlap(const std::string& what, const HostPort& at, const Listener& other) {
  return what + " " + at.text() + " overlaps listener '" + other.name + "''s " + other.listen.text() +
         ": both cannot be bound";
}

// A fixed upstream that is one of the sensor's own listeners would have each session dial
// the sensor again, until descriptors run out; http.listen on a listener's port cannot bind.
void check_self_references(YamlReader& r, const YAML::Node& root, const Config& c) {
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& a = c.listeners[i];
    if (a.original_destination()) continue;
    const auto own = std::find_if(c.listeners.begin(), c.listeners.end(),
                                  [&](const Listener& b) { return connect_reaches(a.upstream, b.listen); });
    if (own != c.listeners.end())
      r.error(listener_mark(root, i, "upstream"), "listener '" + a.name + "': upstream " + a.upstream.text() +
                                                      " is the sensor's own listener '" + own->name + "' (" +
                                                      own->listen.text() + "): it would relay to itself");
  }
  const auto http = HostPort::parse(c.http.listen);
  if (!http) return;
  for (const Listener& b : c.listeners)
    if (binds_clash(*http, b.listen)) {
      const YAML::Node at = root.IsMap() && root["http"].IsMap() ? root["http"]["listen"] : YAML::Node();
      r.error(at ? at.Mark() : root.Mark(), overlap("http.listen", *http, b));
    }
}

Config read_root(YamlReader& r, const YAML::Node& root) {
  Config c;
  if (root.IsNull()) return c;
  std::array<std::string_view, std::size(kTopLevel)> keys;
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = kTopLevel[i].name;
  r.map_of(root, "the top level", keys, [&](const std::string& k, const YAML::Node& v) {
    std::find_if(std::begin(kTopLevel), std::end(kTopLevel), [&](const TopKey& t) { return t.name == k; })->read(r, v, c);
  });
  // Cross-field checks: names and addresses must be unique, or metrics and binds collide.
  for (std::size_t i = 0; i < c.listeners.size(); ++i)
    for (std::size_t j = 0; j < i; ++j) {
      const Listener &a = c.listeners[i], &b = c.listeners[j];
      if (a.name == b.name) r.error(listener_mark(root, i), "listener name '" + a.name + "' is used twice");
      if (a.listen.text() == b.listen.text())
        r.error(listener_mark(root, i), "listen address " + a.listen.text() + " is used twice");
      else if (binds_clash(a.listen, b.listen))
        r.error(listener_mark(root, i), overlap("listen address", a.listen, b));
    }
  check_self_references(r, root, c);
  return c;
}

}  // namespace

std::optional<HostPort> HostPort::parse(std::string_view s) {
  const auto split = split_host_port(s);
  if (!split || !ip_literal(split->first)) return std::nullopt;
  const auto port = port_number(split->second);
  if (!port) return std::nullopt;
  return HostPort{split->first, *port};
}

std::string HostPort::text() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

std::string ConfigError::text() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {
std::string join(const std::vector<ConfigError>& errors) {
  std::string s;
  for (const auto& e : errors) {
    if (!s.empty()) s += '\n';
    s += e.text();
  }
  return s;
}
}  // namespace

ConfigErrors::ConfigErrors(std::vector<ConfigError> errors) : std::runtime_error(join(errors)), errors_(std::move(errors)) {}

namespace {
// yaml-cpp names what it did not find, not the usual slip behind it.
std::string syntax_hint(std::string_view msg) {
  if (msg == "end of sequence not found" || msg == "end of map not found" || msg == "illegal map value")
    return " (check the indentation: the keys of one mapping start in one column, and so do the '- ' of one list)";
  if (msg == "end of sequence flow not found" || msg == "end of map flow not found")
    return " (a '[' or '{' is not closed)";
  return {};
}
}  // namespace

Config parse_config(std::string_view yaml, const std::string& file_name) {
  YamlReader r(file_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    r.error(e.mark, e.msg + syntax_hint(e.msg));
    throw ConfigErrors(std::move(r.errors()));
  }
  Config c = read_root(r, root);
  if (!r.errors().empty()) throw ConfigErrors(std::move(r.errors()));
  c.source = file_name;
  return c;
}

Config load_config_file(const std::string& path) {
  // A directory opens as an empty stream on Linux and would read as an empty, valid
  // config: every default, no deny list. Refuse it, and say why any file cannot be read.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigErrors({{path, 0, 0, "cannot read the config file: it is a directory"}});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigErrors({{path, 0, 0, std::string("cannot open the config file: ") + std::strerror(errno)}});
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigErrors({{path, 0, 0, std::string("cannot read the config file: ") + std::strerror(errno)}});
  return parse_config(ss.str(), path);
}

}  // namespace smtp::config
