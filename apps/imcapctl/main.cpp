// imcapctl: the admin CLI. Each command group lives in its component's library; this file only
// dispatches.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "archive/cli.hpp"
#include "imcap_version.hpp"
#include "modules/cli.hpp"
#include "quarantine/cli.hpp"
#include "signatures/cli.hpp"

namespace {

constexpr std::string_view usage =
    "Usage: imcapctl COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  decode --request FILE [--response FILE]   print the chat events in raw HTTP messages\n"
    "  sigpack SUBCOMMAND ...                     signature packs (imcapctl sigpack help)\n"
    "  archive SUBCOMMAND ...                     the archive: search, show, export, verify,\n"
    "                                             purge, holds (imcapctl archive help)\n"
    "  user add|list|remove ...                   reviewer UI accounts (imcapctl user help)\n"
    "  version                                    print the version\n";

}  // namespace

int main(int argc, char** argv) {
  // What the libraries log (archive replay, map growth, warnings) goes to stderr: stdout carries
  // the commands' output (JSON lines, exports) that scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("imcapctl"));
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  const std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  if (command == "version" || command == "--version") {
    std::cout << "imcapctl " IMCAP_VERSION "\n";
    return 0;
  }
  if (command == "decode") return imcap::modules::decode_command(rest, std::cout, std::cerr);
  if (command == "archive") return imcap::archive::archive_command(rest, std::cout, std::cerr);
  if (command == "sigpack") return imcap::signatures::sigpack_command(rest, std::cout, std::cerr);
  if (command == "user") return imcap::quarantine::user_command(rest, std::cout, std::cerr);
  std::cerr << "imcapctl: unknown command '" << command << "'\n" << usage;
  return 2;
}
