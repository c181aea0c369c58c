#include "config/config_loader.hpp"
#include "config/detector_keys.hpp"
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
    e << YAML::Key << "max_connections" << YAML::Value << l.max_connections << YAML::Key << "domain_from" << YAML::Value
      << to_string(l.domain_from) << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
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
  e << YAML::Key << "timeouts" << YAML::Value << YAML::Flow << YAML::BeginMap;
  for (const auto& [k, v] : {std::pair{"connect", c.timeouts.connect}, std::pair{"greeting", c.timeouts.greeting},
                             std::pair{"idle", c.timeouts.idle}, std::pair{"shutdown_grace", c.timeouts.shutdown_grace},
                             std::pair{"proxy_header", c.timeouts.proxy_header},
                             std::pair{"tls_handshake", c.timeouts.tls_handshake}})
    e << YAML::Key << k << YAML::Value << format_duration(v);
  e << YAML::EndMap;
  e << YAML::Key << "limits" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "max_line" << YAML::Value
    << c.limits.max_line << YAML::EndMap;
  e << YAML::Key << "http" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "listen" << YAML::Value
    << c.http.listen << YAML::EndMap;
  e << YAML::Key << "metrics" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "domain_label_limit"
    << YAML::Value << c.metrics.domain_label_limit << YAML::EndMap;
  const auto& t = c.transcripts;
  e << YAML::Key << "transcripts" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "enabled" << YAML::Value
    << t.enabled << YAML::Key << "path" << YAML::Value << t.path << YAML::Key << "max_size" << YAML::Value
    << format_size(t.max_size) << YAML::Key << "max_files" << YAML::Value << t.max_files << YAML::Key << "message_data"
    << YAML::Value << t.message_data << YAML::Key << "queue_size" << YAML::Value << t.queue_size << YAML::EndMap;
  const auto& a = c.alerts;
  e << YAML::Key << "alerts" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "path" << YAML::Value << a.path
    << YAML::Key << "max_size" << YAML::Value << format_size(a.max_size) << YAML::Key << "max_files" << YAML::Value
    << a.max_files << YAML::Key << "syslog" << YAML::Value << a.syslog << YAML::EndMap;
  e << YAML::Key << "store" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "enabled" << YAML::Value
    << c.store.enabled << YAML::Key << "path" << YAML::Value << c.store.path << YAML::Key << "retention" << YAML::Value
    << format_duration(c.store.retention) << YAML::Key << "queue_size" << YAML::Value << c.store.queue_size
    << YAML::EndMap;
  e << YAML::Key << "allow" << YAML::Value;
  cidr_list(c.allow);
  e << YAML::Key << "deny" << YAML::Value;
  cidr_list(c.deny);
  e << YAML::Key << "detectors" << YAML::Value << YAML::BeginMap;
  for (const auto& k : kDetectorKeys) {
    const Detector& d = c.detectors.*(k.member);
    e << YAML::Key << std::string(k.name) << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "enabled"
      << YAML::Value << d.enabled;
    if (!k.threshold.empty()) e << YAML::Key << std::string(k.threshold) << YAML::Value << d.threshold;
    if (!k.ratio.empty()) e << YAML::Key << std::string(k.ratio) << YAML::Value << d.ratio;
    if (k.window) e << YAML::Key << "window" << YAML::Value << format_duration(d.window);
    e << YAML::Key << "action" << YAML::Value << to_string(d.action) << YAML::EndMap;
  }
  e << YAML::Key << "max_tracked" << YAML::Value << c.detectors.max_tracked << YAML::EndMap;
  e << YAML::Key << "flag" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "ttl" << YAML::Value
    << format_duration(c.flag.ttl) << YAML::Key << "block_reply" << YAML::Value << c.flag.block_reply << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace smtp::config
