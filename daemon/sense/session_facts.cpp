#include "daemon/sense/session_facts.hpp"

#include "daemon/address.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace smtp::daemon {
namespace {

std::string_view after_at(std::string_view user) {
  const auto at = user.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : user.substr(at + 1);
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string ip_text(const tcp::endpoint& ep) { return unmapped(ep.address()).to_string(); }

std::string key_text(const detect::IpBytes& key, const config::Addresses& prefixes) {
  const auto v6 = asio::ip::make_address_v6(key);
  if (v6.is_v4_mapped()) {
    const auto v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    return prefixes.ipv4_prefix >= 32 ? v4 : fmt::format("{}/{}", v4, prefixes.ipv4_prefix);
  }
  return prefixes.ipv6_prefix >= 128 ? v6.to_string() : fmt::format("{}/{}", v6.to_string(), prefixes.ipv6_prefix);
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto ip = ip_text(ep);
  if (ip.find(':') == std::string::npos) return fmt::format("{}:{}", ip, ep.port());
  return fmt::format("[{}]:{}", ip, ep.port());
}

std::string SessionFacts::domain(config::DomainFrom from) const {
  const std::string auth_domain = lower(after_at(auth_user));
  switch (from) {
    case config::DomainFrom::sender: return sender_domain;
    case config::DomainFrom::recipient: return recipient_domain;
    case config::DomainFrom::auth: return auth_domain;
    case config::DomainFrom::automatic: break;
  }
  // Outbound, the local domain that sends (SPEC 14).
  if (outbound) return sender_domain;
  // Submission (authenticated, or on 587/465) counts for the sender's side; inbound
  // MX traffic counts for the domain it delivers to.
  if (authenticated || submission_port) return !auth_domain.empty() ? auth_domain : sender_domain;
  return !recipient_domain.empty() ? recipient_domain : sender_domain;
}

std::string_view SessionFacts::user(config::UserFrom from, std::string_view envelope_sender) const {
  const std::string_view auth = authenticated ? std::string_view(auth_user) : std::string_view{};
  if (!outbound) return auth;
  switch (from) {
    case config::UserFrom::auth: return auth;
    case config::UserFrom::sender: return envelope_sender;
    case config::UserFrom::automatic: break;
  }
  return !auth.empty() ? auth : envelope_sender;
}

}  // namespace smtp::daemon
