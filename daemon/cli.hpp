// The command line: run, check-config, --version, --help.
#pragma once

namespace smtp::daemon {

int run_cli(int argc, char** argv);

}  // namespace smtp::daemon
