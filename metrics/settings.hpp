#pragma once
// The [metrics] section of imcapd.toml: whether imcapd serves Prometheus metrics, and where.
// imcapd's config loader (icap/) keeps the raw tables of the section (embedded defaults first,
// then the file) and hands them here; this parser validates every key.
//
// Errors throw settings_error: "file:line:column: metrics.key: reason".

#include <cstdint>
#include <stdexcept>
#include <string>

#include <toml++/toml.h>

namespace imcap::metrics {

class settings_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct metrics_settings {
  bool enabled = false;
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6 address, no brackets
  std::uint16_t port = 9181;       // 0: a free port (tests)

  bool operator==(const metrics_settings&) const = default;
};

// Applies one [metrics] table over `s`. `file` names the table's source in errors.
void apply_metrics_table(const toml::table& section, const std::string& file, metrics_settings& s);

// Splits "host:port" / "[v6]:port" with a numeric address; false when it is not one.
bool parse_listen(std::string_view text, std::string& host, std::uint16_t& port);

}  // namespace imcap::metrics
