// A full disk for the tests that need one, without root: a file size limit for one scope.
#pragma once

#include <sys/resource.h>

#include <csignal>
#include <stdexcept>

namespace smtp::test {

// While it lives, every write past `bytes` into any file of the process fails part-way and
// then with EFBIG, as on a full disk; SIGXFSZ, which would kill the process, is ignored.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) : handler_(std::signal(SIGXFSZ, SIG_IGN)) {
    ::getrlimit(RLIMIT_FSIZE, &was_);
    rlimit small = was_;
    small.rlim_cur = bytes;
    if (::setrlimit(RLIMIT_FSIZE, &small) != 0) throw std::runtime_error("setrlimit(RLIMIT_FSIZE) failed");
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &was_);
    std::signal(SIGXFSZ, handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit was_{};
  void (*handler_)(int);
};

}  // namespace smtp::test
