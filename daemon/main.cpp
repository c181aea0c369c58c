// The smtp-sensor executable: process-wide settings, then the command line.
#include "daemon/cli.hpp"

#include <malloc.h>

int main(int argc, char** argv) {
  // glibc hands the top of a thread's heap back to the kernel (madvise, then page faults
  // to take it again) once 128 KB lie free there. OpenSSL frees and re-allocates a
  // session's 64 KB record buffers whenever they drain (SSL_MODE_RELEASE_BUFFERS, which
  // keeps an idle TLS session small), so under a bulk transfer that trimming ran per
  // record: a third of the sensor's CPU in tls_bench (bench/README.md, issue 20). 4 MB
  // free per heap is kept; a fixed mmap threshold keeps large blocks out of the heaps
  // (setting the trim threshold would otherwise freeze it at 128 KB anyway).
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  return smtp::daemon::run_cli(argc, argv);
}
