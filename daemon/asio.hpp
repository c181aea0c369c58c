// The one way to include Boost.Asio here: GCC 12 with Boost 1.74's awaitable.hpp needs
// <utility> first ('exchange' is not a member of 'std'), so every Asio user includes this.
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace smtp {
namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
}  // namespace smtp
