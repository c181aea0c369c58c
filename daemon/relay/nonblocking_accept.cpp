#include "daemon/relay/nonblocking_accept.hpp"

#include "daemon/relay/asio_reach.hpp"

// basic_socket_acceptor keeps its implementation (the descriptor, Asio's state flags, the
// reactor's registration, the protocol) in the private member impl_ (Boost 1.74's
// basic_socket_acceptor.hpp, on a reactor platform).

namespace smtp::daemon {

struct AcceptorImpl {
  using type = asio::detail::io_object_impl<asio::detail::reactive_socket_service<tcp>, asio::any_io_executor> tcp::acceptor::*;
  friend type reach(AcceptorImpl);
};
template struct Reach<AcceptorImpl, &tcp::acceptor::impl_>;

tcp NonBlockingAcceptor::protocol() {
  return (this->*reach(AcceptorImpl{})).get_implementation().protocol_;
}

void NonBlockingAcceptor::start(asio::detail::reactor_op* op) {
  auto& impl = (this->*reach(AcceptorImpl{})).get_implementation();
  start_read_op(static_cast<asio::io_context&>(get_executor().context()), impl.socket_, impl.state_, impl.reactor_data_, op);
}

}  // namespace smtp::daemon
