#pragma once
// `imcapctl decode --request FILE [--response FILE]`: reads raw HTTP/1.1 messages and prints
// the chat events the decoders find, one JSON object per line. The security team's debugging
// tool, and how fixtures are checked. Lives in the library so tests run it as the CLI does.
//
// Returns the process exit status: 0 decoded (possibly no events), 1 a decoder or input error
// (printed to `err` with the file name), 2 usage error.

#include <iosfwd>
#include <span>
#include <string>

namespace imcap::modules {

// args excludes "imcapctl" and "decode".
int decode_command(std::span<const std::string> args, std::ostream& out, std::ostream& err);

}  // namespace imcap::modules
