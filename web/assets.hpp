// The built-in report page (index.html, its script and style), embedded at build time.
#pragma once

#include <span>
#include <string_view>

namespace smtp::web {

struct Asset {
  std::string_view path;          // the URL path it is served at, e.g. "/" or "/ui/app.js"
  std::string_view content_type;
  std::string_view body;
};

// Every file of the page; generated from web/ by cmake/EmbedFiles.cmake.
std::span<const Asset> assets();

// The page loads nothing but its own files and talks only to its own origin, so a
// strict policy costs nothing and keeps an injected report value from running script.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

}  // namespace smtp::web
