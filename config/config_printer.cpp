#include "config/config_loader.hpp"
#include "config/config_sections.hpp"
#include "config/units.hpp"

#include <yaml-cpp/yaml.h>

namespace smtp::config {

std::string to_string(ProxyProtocol p) { return p == ProxyProtocol::none ? "none" : p == ProxyProtocol::v1 ? "v1" : "v2"; }
std::string to_string(DomainFrom d) {
  switch (d) {
    case DomainFrom::automatic: return "auto";
    case DomainFrom::sender: return "sender";
    case DomainFrom::recipient: return "recipient";
    case DomainFrom::auth: return "auth";
  }
  return "auto";
}
std::string to_string(TlsMode m) { return m == TlsMode::passthrough ? "passthrough" : "terminate"; }
std::string to_string(Action a) { return a == Action::flag ? "flag" : "block"; }
std::string to_string(Direction d) { return d == Direction::inbound ? "inbound" : "outbound"; }
std::string to_string(UserFrom u) {
  return u == UserFrom::automatic ? "auto" : u == UserFrom::auth ? "auth" : "sender";
}
std::string to_string(Source s) { return s == Source::host ? "host" : "client"; }

namespace {

// A flat section as one flow mapping, keys in table order, each value as the loader reads it.
template <class S, std::size_t N>
void emit_fields(YAML::Emitter& e, const std::array<Field<S>, N>& fields, const S& s) {
  for (const auto& f : fields) {
    e << YAML::Key << std::string(f.key) << YAML::Value;
    switch (f.kind) {
      case FieldKind::boolean: e << s.*std::get<bool S::*>(f.member); break;
      case FieldKind::text:
      case FieldKind::listen_address:
      case FieldKind::reply_line: e << s.*std::get<std::string S::*>(f.member); break;
      case FieldKind::duration:
      case FieldKind::duration_or_zero: e << format_duration(s.*std::get<Duration S::*>(f.member)); break;
      case FieldKind::size: e << format_size(s.*std::get<std::uint64_t S::*>(f.member)); break;
      case FieldKind::integer:
      case FieldKind::line_size: e << s.*std::get<std::uint32_t S::*>(f.member); break;
    }
  }
}

template <class S, std::size_t N>
void emit(YAML::Emitter& e, const Section<S, N>& sec, const Config& c) {
  e << YAML::Key << std::string(sec.name) << YAML::Value << YAML::Flow << YAML::BeginMap;
  emit_fields(e, sec.fields, c.*(sec.member));
  e << YAML::EndMap;
}

}  // namespace

std::string effective_yaml(const Config& c) {
  YAML::Emitter e;
  auto cidr_list = [&](const std::vector<Cidr>& v) {
    e << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : v) e << x.text();
    e << YAML::EndSeq;
  };
  e << YAML::BeginMap << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const auto& l : c.listeners) {
    e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << l.name << YAML::Key << "listen" << YAML::Value
      << l.listen.text() << YAML::Key << "upstream" << YAML::Value
      << (l.original_destination ? std::string("original-destination") : l.upstream.text()) << YAML::Key
      << "proxy_protocol_out" << YAML::Value << to_string(l.proxy_protocol_out) << YAML::Key << "proxy_protocol_in"
      << YAML::Value << l.proxy_protocol_in << YAML::Key << "trusted_proxies" << YAML::Value;
    cidr_list(l.trusted_proxies);
    e << YAML::Key << "max_connections" << YAML::Value << l.max_connections << YAML::Key << "max_connections_per_client"
      << YAML::Value << l.max_connections_per_client << YAML::Key << "domain_from" << YAML::Value
      << to_string(l.domain_from) << YAML::Key << "direction" << YAML::Value << to_string(l.direction) << YAML::Key
      << "user_from" << YAML::Value << to_string(l.user_from) << YAML::Key << "source" << YAML::Value
      << to_string(l.source) << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "mode" << YAML::Value << to_string(l.tls.mode) << YAML::Key << "cert" << YAML::Value << l.tls.cert
      << YAML::Key << "key" << YAML::Value << l.tls.key << YAML::Key << "implicit" << YAML::Value << l.tls.implicit
      << YAML::Key << "verify" << YAML::Value << (l.tls.verify == TlsVerify::none ? "none" : "ca_file") << YAML::Key
      << "ca_file" << YAML::Value << l.tls.ca_file << YAML::Key << "upstream_implicit" << YAML::Value
      << l.tls.upstream_implicit << YAML::EndMap << YAML::EndMap;
  }
  e << YAML::EndSeq;
  e << YAML::Key << "threads" << YAML::Value;
  if (c.threads == 0) e << "auto";
  else e << c.threads;
  emit(e, sections::timeouts, c);
  emit(e, sections::limits, c);
  e << YAML::Key << "http" << YAML::Value << YAML::BeginMap;
  emit_fields(e, sections::http.fields, c.http);
  e << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap;
  emit_fields(e, sections::http_tls, c.http.tls);
  e << YAML::EndMap << YAML::Key << "basic_auth" << YAML::Value << YAML::Flow << YAML::BeginMap;
  for (const auto& [user, hash] : c.http.basic_auth) e << YAML::Key << user << YAML::Value << hash;
  e << YAML::EndMap << YAML::EndMap;
  emit(e, sections::control, c);
  emit(e, sections::metrics, c);
  emit(e, sections::transcripts, c);
  emit(e, sections::alerts, c);
  emit(e, sections::store, c);
  e << YAML::Key << "allow" << YAML::Value;
  cidr_list(c.allow);
  e << YAML::Key << "deny" << YAML::Value;
  cidr_list(c.deny);
  e << YAML::Key << "detectors" << YAML::Value << YAML::BeginMap;
  for (const auto& k : kDetectors) {
    const Detector& d = c.detectors[k.id];
    e << YAML::Key << std::string(k.name) << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "enabled"
      << YAML::Value << d.enabled;
    if (!k.threshold_key.empty()) e << YAML::Key << std::string(k.threshold_key) << YAML::Value << d.threshold;
    if (!k.ratio_key.empty()) e << YAML::Key << std::string(k.ratio_key) << YAML::Value << d.ratio;
    if (k.windowed) e << YAML::Key << "window" << YAML::Value << format_duration(d.window);
    e << YAML::Key << "action" << YAML::Value << to_string(d.action) << YAML::EndMap;
  }
  e << YAML::Key << "max_tracked" << YAML::Value << c.detectors.max_tracked << YAML::EndMap;
  emit(e, sections::addresses, c);
  emit(e, sections::flag, c);
  emit(e, sections::sensor, c);
  emit(e, sections::fleet, c);
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace smtp::config
