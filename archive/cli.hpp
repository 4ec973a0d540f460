#pragma once
// `imcapctl archive ...`: search, show, export, verify, purge and legal holds. The commands live
// here, in the library, so tests run them exactly as the CLI does; apps/imcapctl only
// dispatches.
//
// The archive is found through the same configuration imcapd reads: --config FILE's [archive]
// section (without --config: the built-in defaults, which are conf/imcapd.toml's), or --path DIR.
// search/show/export/verify open the archive read-only and work while imcapd writes; purge and
// hold write through their own LMDB write transactions (serialised with imcapd's by LMDB).
//
// Exit status: 0 success, 1 the command ran and found a failure (verify problems, unknown id,
// archive not openable), 2 usage or configuration error.

#include <iosfwd>
#include <span>
#include <string>

namespace imcap::archive {

// args excludes "imcapctl" and "archive": e.g. {"show", "42", "--config", "imcapd.toml"}.
int archive_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

}  // namespace imcap::archive
