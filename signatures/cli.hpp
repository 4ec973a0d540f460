#pragma once
// `imcapctl sigpack ...`: the security team's pack tooling. The commands live here, in the
// library, so tests run them exactly as the CLI does; apps/imcapctl only dispatches.
//
// Every command writes results to `out`, diagnostics to `err`, and returns the process exit
// status: 0 success, 1 the command ran and found a failure (invalid pack, failing example, bad
// signature), 2 usage error.

#include <iosfwd>
#include <span>
#include <string>

namespace imcap::signatures {

// args excludes "imcapctl" and "sigpack": e.g. {"validate", "pack.toml"}.
// Dispatches validate / test / scan (signatures/cli.cpp) and hands keygen / sign / verify /
// install / list / rollback to sigpack_store_command.
int sigpack_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

// keygen, sign, verify, install, list, rollback (signatures/store_cli.cpp). args[0] is the
// subcommand name.
int sigpack_store_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

}  // namespace imcap::signatures
