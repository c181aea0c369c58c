#include "config/config_loader.hpp"
#include "config/config_sections.hpp"
#include "config/units.hpp"

#include <yaml-cpp/yaml.h>

namespace smtp::config {

namespace {

// IPv6 networks are quoted: yaml-cpp writes `::1` plain, which YAML 1.1 readers (PyYAML,
// Ansible) refuse inside a flow sequence.
void emit_cidrs(YAML::Emitter& e, const std::vector<Cidr>& list) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto& x : list) {
    const std::string text = x.text();
    if (text.find(':') != std::string::npos) e << YAML::DoubleQuoted;
    e << text;
  }
  e << YAML::EndSeq;
}

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
      case FieldKind::choice:
        std::visit(
            [&]<class T>(T S::* m) {
              if constexpr (Worded<T>) e << std::string(to_string(s.*m));
            },
            f.member);
        break;
      case FieldKind::cidrs: emit_cidrs(e, s.*std::get<std::vector<Cidr> S::*>(f.member)); break;
      case FieldKind::host_port: e << (s.*std::get<HostPort S::*>(f.member)).text(); break;
      case FieldKind::upstream: e << (s.*std::get<HostPort S::*>(f.member)).upstream_text(); break;
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
  e << YAML::BeginMap << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const auto& l : c.listeners) {
    e << YAML::BeginMap;
    emit_fields(e, sections::listener, l);
    e << YAML::Key << "tls" << YAML::Value << YAML::Flow << YAML::BeginMap;
    emit_fields(e, sections::listener_tls, l.tls);
    e << YAML::EndMap << YAML::EndMap;
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
  emit_cidrs(e, c.allow);
  e << YAML::Key << "deny" << YAML::Value;
  emit_cidrs(e, c.deny);
  e << YAML::Key << "detectors" << YAML::Value << YAML::BeginMap;
  for (const auto& k : kDetectors) {
    const Detector& d = c.detectors[k.id];
    e << YAML::Key << std::string(k.name) << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "enabled"
      << YAML::Value << d.enabled;
    if (!k.threshold_key.empty()) e << YAML::Key << std::string(k.threshold_key) << YAML::Value << d.threshold;
    if (!k.ratio_key.empty()) e << YAML::Key << std::string(k.ratio_key) << YAML::Value << d.ratio;
    if (k.windowed) e << YAML::Key << "window" << YAML::Value << format_duration(d.window);
    if (!acts_on_accounts_only(k.id)) e << YAML::Key << "action" << YAML::Value << std::string(to_string(d.action));
    e << YAML::EndMap;
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
