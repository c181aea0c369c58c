#include "daemon/relay/proxy_protocol.hpp"

#include "daemon/address.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace smtp::daemon {
namespace {

constexpr std::uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV1Max = 107;

bool parse_port(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || v > 65535) return false;
  if (s.size() > 1 && s[0] == '0') return false;  // the spec forbids leading zeros
  out = static_cast<std::uint16_t>(v);
  return true;
}

ProxyParse parse_v1(std::span<const std::uint8_t> b, ProxyHeader& out) {
  const auto* begin = reinterpret_cast<const char*>(b.data());
  const std::string_view all(begin, std::min(b.size(), kV1Max));
  const auto crlf = all.find("\r\n");
  if (crlf == std::string_view::npos) return b.size() >= kV1Max ? ProxyParse::invalid : ProxyParse::incomplete;
  std::string_view line = all.substr(0, crlf);
  std::string_view parts[6];
  std::size_t n = 0;
  while (!line.empty() && n < 6) {
    const auto sp = line.find(' ');
    parts[n++] = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  }
  if (n < 2 || parts[0] != "PROXY") return ProxyParse::invalid;
  out.length = crlf + 2;
  if (parts[1] == "UNKNOWN") {
    out.has_address = false;
    return ProxyParse::complete;
  }
  if (n != 6 || !line.empty() || (parts[1] != "TCP4" && parts[1] != "TCP6")) return ProxyParse::invalid;
  // Plain addresses only, as inet_ntop writes them: Asio would take an IPv6 scope ("%2",
  // "%eth0"), which means nothing off the balancer's host, and would make one client
  // several addresses to the detectors and the flag list.
  if (parts[2].find('%') != std::string_view::npos || parts[3].find('%') != std::string_view::npos) return ProxyParse::invalid;
  error_code ec1, ec2;
  const auto src = asio::ip::make_address(std::string(parts[2]), ec1);
  const auto dst = asio::ip::make_address(std::string(parts[3]), ec2);
  std::uint16_t sport = 0, dport = 0;
  if (ec1 || ec2 || !parse_port(parts[4], sport) || !parse_port(parts[5], dport)) return ProxyParse::invalid;
  if (src.is_v4() != (parts[1] == "TCP4") || dst.is_v4() != src.is_v4()) return ProxyParse::invalid;
  out.has_address = true;
  out.source = {src, sport};
  out.destination = {dst, dport};
  return ProxyParse::complete;
}

ProxyParse parse_v2(std::span<const std::uint8_t> b, ProxyHeader& out) {
  if (b.size() < 16) return ProxyParse::incomplete;
  const std::uint8_t ver_cmd = b[12];
  const std::uint8_t family = b[13];
  const std::size_t len = (std::size_t{b[14]} << 8) | b[15];
  if ((ver_cmd & 0xF0) != 0x20 || (ver_cmd & 0x0F) > 1) return ProxyParse::invalid;
  if (16 + len > kMaxProxyHeader) return ProxyParse::invalid;
  if (b.size() < 16 + len) return ProxyParse::incomplete;
  out.length = 16 + len;
  out.has_address = false;
  if ((ver_cmd & 0x0F) == 0) return ProxyParse::complete;  // LOCAL: a health check by the balancer itself
  const auto* a = b.data() + 16;
  auto port = [](const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); };
  switch (family) {
    case 0x11: {  // TCP over IPv4
      if (len < 12) return ProxyParse::invalid;
      asio::ip::address_v4::bytes_type s, d;
      std::memcpy(s.data(), a, 4);
      std::memcpy(d.data(), a + 4, 4);
      out.source = {asio::ip::address_v4(s), port(a + 8)};
      out.destination = {asio::ip::address_v4(d), port(a + 10)};
      out.has_address = true;
      return ProxyParse::complete;
    }
    case 0x21: {  // TCP over IPv6
      if (len < 36) return ProxyParse::invalid;
      asio::ip::address_v6::bytes_type s, d;
      std::memcpy(s.data(), a, 16);
      std::memcpy(d.data(), a + 16, 16);
      out.source = {asio::ip::address_v6(s), port(a + 32)};
      out.destination = {asio::ip::address_v6(d), port(a + 34)};
      out.has_address = true;
      return ProxyParse::complete;
    }
    case 0x00:  // UNSPEC: keep the socket's addresses
      return ProxyParse::complete;
    default:  // UDP and unix sockets make no sense in front of SMTP
      return ProxyParse::invalid;
  }
}

}  // namespace

ProxyParse parse_proxy_header(std::span<const std::uint8_t> b, ProxyHeader& out) {
  if (b.empty()) return ProxyParse::incomplete;
  // Decide the version from as many bytes as we have; a mismatch is invalid at once.
  const std::size_t sig = std::min<std::size_t>(b.size(), sizeof kV2Signature);
  if (std::memcmp(b.data(), kV2Signature, sig) == 0) return sig < sizeof kV2Signature ? ProxyParse::incomplete : parse_v2(b, out);
  constexpr std::string_view v1 = "PROXY ";
  const std::size_t pre = std::min(b.size(), v1.size());
  if (std::memcmp(b.data(), v1.data(), pre) != 0) return ProxyParse::invalid;
  return pre < v1.size() ? ProxyParse::incomplete : parse_v1(b, out);
}

std::string make_proxy_v1(const tcp::endpoint& source, const tcp::endpoint& destination) {
  auto src = unmapped(source.address());
  auto dst = unmapped(destination.address());
  if (src.is_v4() != dst.is_v4()) {  // v1 wants one family; map the IPv4 side into IPv6
    if (src.is_v4()) src = asio::ip::make_address_v6(asio::ip::v4_mapped, src.to_v4());
    else dst = asio::ip::make_address_v6(asio::ip::v4_mapped, dst.to_v4());
  }
  return std::string("PROXY ") + (src.is_v4() ? "TCP4 " : "TCP6 ") + src.to_string() + " " + dst.to_string() + " " +
         std::to_string(source.port()) + " " + std::to_string(destination.port()) + "\r\n";
}

std::string make_proxy_v2(const tcp::endpoint& source, const tcp::endpoint& destination) {
  auto src = unmapped(source.address());
  auto dst = unmapped(destination.address());
  const bool v4 = src.is_v4() && dst.is_v4();
  std::string h(reinterpret_cast<const char*>(kV2Signature), sizeof kV2Signature);
  h += static_cast<char>(0x21);  // version 2, PROXY
  h += static_cast<char>(v4 ? 0x11 : 0x21);
  const std::uint16_t len = v4 ? 12 : 36;
  h += static_cast<char>(len >> 8);
  h += static_cast<char>(len & 0xFF);
  auto put_addr = [&](const asio::ip::address& a) {
    if (v4) {
      const auto bytes = a.to_v4().to_bytes();
      h.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } else {
      const auto bytes = a.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes() : a.to_v6().to_bytes();
      h.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
  };
  put_addr(src);
  put_addr(dst);
  for (const std::uint16_t port : {source.port(), destination.port()}) {
    h += static_cast<char>(port >> 8);
    h += static_cast<char>(port & 0xFF);
  }
  return h;
}

}  // namespace smtp::daemon
