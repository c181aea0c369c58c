// What sense knows about one session so far: who, what was said, how much.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "detect/engine.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtp::daemon {

// Plain data: the dispatcher (sensor_session.hpp) fills it from the decoder's events,
// and each piece that writes a transcript line, a store row or /sessions reads it.
struct SessionFacts {
  std::uint64_t lcid = 0;
  std::string listener;
  tcp::endpoint client;
  // The client's key for the detectors: its address masked to addresses.ipv4_prefix or
  // ipv6_prefix, and that key as alerts show it ("192.0.2.7", "2001:db8:1:2::/64").
  detect::IpBytes client_ip{};
  std::string client_key;
  std::string upstream;
  std::chrono::system_clock::time_point started;
  std::uint64_t transcript_file = 0;  // the transcript writer's position as the session opened
  std::uint64_t transcript_offset = 0;
  std::string helo;
  std::string auth_user;
  std::string_view auth_result;
  std::string sender_domain;
  std::string sender;     // the first accepted MAIL FROM's address (the outbound session's user)
  std::string mail_from;  // the current transaction's, for outbound_rejections
  std::string recipient_domain;  // the first accepted recipient's
  std::string_view state = "greeting";
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint32_t commands = 0;
  std::uint32_t bad_commands = 0;
  std::uint32_t messages = 0;
  std::uint32_t recipients = 0;
  std::uint32_t permanent_failures = 0;
  bool quit = false;  // the client said QUIT
  bool tls = false;
  bool opaque = false;  // implicit TLS passed through: bytes are counted, never decoded
  std::string tls_version;  // when the sensor terminated TLS with the client
  std::string tls_cipher;
  bool blocked = false;  // the upstream (or, outbound, the remote server) refused the session
  bool outbound = false;  // an outbound listener's session (SPEC 14): the MTA delivering its users' mail
  bool authenticated = false;
  bool submission_port = false;

  // The domain the session counts for (SPEC section 4, domain_from).
  std::string domain(config::DomainFrom from) const;
  // The session's user (SPEC 14): inbound, the AUTH user once AUTH succeeded; outbound,
  // by user_from: auto the AUTH user if AUTH succeeded, else the envelope sender (the
  // first accepted MAIL FROM); auth only the AUTH user; sender always the envelope sender.
  // `sender` is which envelope sender: the session's, or the current transaction's.
  std::string_view user(config::UserFrom from, std::string_view envelope_sender) const;
  std::string_view user(config::UserFrom from) const { return user(from, sender); }
};

std::string ip_text(const tcp::endpoint& ep);        // "192.0.2.1", IPv4-mapped shown as IPv4
std::string endpoint_text(const tcp::endpoint& ep);  // "192.0.2.1:25" or "[2001:db8::1]:25"
std::string lower(std::string_view s);
// A detector key as text: the address, with "/N" when the prefix is shorter than the address.
std::string key_text(const detect::IpBytes& key, const config::Addresses& prefixes);

}  // namespace smtp::daemon
