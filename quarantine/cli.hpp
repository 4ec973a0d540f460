#pragma once
// `imcapctl user ...`: reviewer UI accounts in the archive environment.
//
//   imcapctl user add NAME --role admin|reviewer|auditor [--config FILE]
//       password from the terminal (asked twice, not echoed) or, when stdin is not a
//       terminal, the first line of stdin; replaces an existing account of that name
//   imcapctl user list [--config FILE]
//   imcapctl user remove NAME [--config FILE]
//
// The archive is found through the [archive] section of --config (default: the embedded
// defaults, var/archive). Changes are audited as "imcapctl:<unix user>".
// Exit status: 0 done, 1 failed (message on err), 2 usage.

#include <ostream>
#include <span>
#include <string>

namespace imcap::quarantine {

int user_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

}  // namespace imcap::quarantine
