// smtp-sensor: an inline SMTP proxy that relays every byte and reports what it sees.
#include "daemon/cli.hpp"

int main(int argc, char** argv) { return smtp::daemon::run_cli(argc, argv); }
