// The investigation endpoints (SPEC section 13): GET /sessions/history, /sessions/auth_failures,
// /transcript and /alerts. Read-only, bounded in rows, bytes and time; a bad parameter is a 400.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/http/http_server.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace smtp::daemon {

inline constexpr std::size_t kHistoryDefaultLimit = 100;
inline constexpr std::size_t kHistoryMaxLimit = 1000;
inline constexpr std::size_t kAuthFailuresMaxIps = 100;  // the top-IPs step shows 50
inline constexpr std::size_t kAlertsDefaultLimit = 50;
inline constexpr std::size_t kAlertsMaxLimit = 1000;
inline constexpr std::size_t kAlertsMaxTail = 8u << 20;  // bytes read back from the alert log's end

// Each is read as a request comes, so a reload's new paths are followed.
struct InvestigateSources {
  std::function<std::string()> store_path;                     // "" when the store is off
  std::function<std::vector<std::string>()> transcript_files;  // current first; empty when off
  std::function<std::string()> alerts_path;
};

// Each blocks on disk or SQLite: call them off the control thread.
HttpResponse history_response(const std::string& store_path, const std::string& query);
// Sessions with a failed or unadvertised AUTH for each of `ips` (a comma list) in from..to, as {"IP": n}.
HttpResponse auth_failures_response(const std::string& store_path, const std::string& query);
HttpResponse transcript_response(const std::string& store_path, const std::vector<std::string>& files,
                                 const std::string& query);
HttpResponse alerts_response(const std::string& alerts_path, const std::string& query);

// Adds the four routes; their work runs on `pool` (the report pool), never on the
// control thread.
void add_investigate_routes(HttpServer& http, asio::thread_pool& pool, InvestigateSources sources);

}  // namespace smtp::daemon
