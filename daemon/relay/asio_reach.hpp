// The one way the relay reaches a private member of Asio's, checked against this Boost.
#pragma once

#include <boost/version.hpp>

// Everything reached this way was read in Boost 1.74's sources (epoll_reactor.ipp,
// basic_socket_acceptor.hpp; see drained_read.cpp and nonblocking_accept.cpp for which
// member means what). Another version must be read again.
static_assert(BOOST_VERSION == 107400, "the relay reaches into Asio 1.74's private members: check them against this Boost");

namespace smtp::daemon {

// Explicit instantiation may name private members (C++ [temp.spec]/6); the friend function
// hands the member pointer out. No object layout is assumed. For each member, a tag:
//   struct Tag { using type = T Class::*; friend type reach(Tag); };
//   template struct Reach<Tag, &Class::member_>;
// and then `object.*reach(Tag{})`. The tags live in this namespace too (not an unnamed
// one), so that the friend each declares is the one Reach defines.
template <class Tag, typename Tag::type Member>
struct Reach {
  friend typename Tag::type reach(Tag) { return Member; }
};

}  // namespace smtp::daemon
