#pragma once
// imcapd configuration: the TOML file (conf/imcapd.toml documents every key) over defaults
// that are that same file, embedded at build time, so the documented and the compiled
// defaults cannot drift apart.
//
// Errors are start-up errors: load_config throws config_error whose message names the file,
// line, column and key ("conf/imcapd.toml:12:11: server.threads: expected ...").
//
// Extension sections: a section icap does not know (e.g. [signatures]) is accepted when the
// embedded defaults contain it, because conf/imcapd.toml documents every section there is.
// icap does not look inside: it keeps the raw tables, defaults first and then the file's, in
// config::extensions, and the application hands them to the owning component's parser, which
// validates them with the same file:line:column: key: reason errors.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <map>
#include <memory>

#include <toml++/toml.h>

#include "icap/identity.hpp"
#include "icap/parser.hpp"

namespace imcap::icap {

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct listen_address {
  std::string host;  // numeric IPv4 or IPv6 address
  std::uint16_t port = 0;
};

enum class access_format { plain, json };

struct log_settings {
  std::string file = "-";  // daemon log: "-" = stderr
  std::string level = "info";
  std::string access_log = "var/log/access.log";  // "-" = stdout, "" = off
  icap::access_format access_format = access_format::plain;

  bool operator==(const log_settings&) const = default;
};

// One table of an extension section, and where it came from (for error messages).
// The table points into `document`, which it shares: copies of a toml++ node lose their source
// positions, so the parsed document is kept whole.
struct extension_table {
  std::string file;  // "<embedded defaults>" or the configuration file's path
  std::shared_ptr<const toml::table> document;
  const toml::table* table = nullptr;  // the section, inside *document
};

struct config {
  std::string source = "<embedded defaults>";  // file the values came from
  // Hash of the text the values came from (defaults and file): equal digests mean an unchanged
  // file, so a SIGHUP that only reloads other things keeps the configuration (and its ISTag).
  std::uint64_t text_digest = 0;
  // Extension sections by name, each with its tables in overlay order (see above).
  std::map<std::string, std::vector<extension_table>, std::less<>> extensions;
  std::vector<listen_address> listen;
  unsigned threads = 0;  // resolved: never 0 after load_config
  unsigned blocking_threads = 2;
  std::uint32_t max_connections = 1024;
  std::chrono::seconds idle_timeout{600};
  std::chrono::seconds read_timeout{60};
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds drain_timeout{30};
  std::uint32_t options_ttl = 3600;
  std::uint32_t preview_size = 4096;
  bool allow_206 = true;
  parser_limits limits;
  std::size_t max_buffered_body = std::size_t{16} << 20;
  identity_settings identity;
  log_settings log;
};

// The embedded defaults alone.
config default_config();
// Defaults overlaid with `file`. Throws config_error (file:line:column: key: reason).
config load_config(const std::filesystem::path& file);
// The embedded default file's text (conf/imcapd.toml at build time).
std::string_view embedded_default_config() noexcept;

}  // namespace imcap::icap
