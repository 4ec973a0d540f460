#include "modules/cli.hpp"

#include <ostream>

#include <boost/json.hpp>

#include "modules/decode_files.hpp"

namespace imcap::modules {

namespace {

constexpr std::string_view usage =
    "usage: imcapctl decode --request FILE [--response FILE] [--request FILE [--response "
    "FILE]]...\n"
    "                       [--user NAME] [--client-ip IP]\n"
    "Decodes raw HTTP/1.1 messages in order (one session store for all of them) and prints\n"
    "each chat event as one JSON line.\n";

}  // namespace

int decode_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  std::vector<decode_step> steps;
  decode_files_options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "-h" || a == "--help") {
      out << usage;
      return 0;
    }
    if (i + 1 >= args.size()) {
      err << "imcapctl decode: " << a << " needs a value\n" << usage;
      return 2;
    }
    const auto& v = args[++i];
    if (a == "--request") {
      steps.push_back({v, std::nullopt});
    } else if (a == "--response") {
      if (steps.empty() || steps.back().response_file) {
        err << "imcapctl decode: --response " << v << " must follow its --request\n";
        return 2;
      }
      steps.back().response_file = v;
    } else if (a == "--user") {
      options.proxy_user = v;
    } else if (a == "--client-ip") {
      options.client_ip = v;
    } else {
      err << "imcapctl decode: unknown option " << a << "\n" << usage;
      return 2;
    }
  }
  if (steps.empty()) {
    err << "imcapctl decode: no --request given\n" << usage;
    return 2;
  }
  auto r = decode_files(steps, options);
  for (const auto& e : r.events) out << boost::json::serialize(to_json(e)) << '\n';
  for (std::size_t i = 0; i < r.decoders_used.size(); ++i) {
    if (r.decoders_used[i].empty())
      err << steps[i].request_file << ": no decoder matches this request\n";
  }
  if (r.error) {
    err << r.error_file << ": " << to_string(r.error.code) << ": " << r.error.detail << '\n';
    return 1;
  }
  return 0;
}

}  // namespace imcap::modules
