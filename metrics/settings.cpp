#include "metrics/settings.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>

#include "common/toml_fields.hpp"

namespace imcap::metrics {

namespace {

const toml_fields::section<settings_error> field{"metrics"};

}  // namespace

bool parse_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return false;
  std::string_view h = text.substr(0, colon);
  const std::string_view p = text.substr(colon + 1);
  bool v6 = false;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    v6 = true;
  }
  unsigned value = 0;
  const auto r = std::from_chars(p.data(), p.data() + p.size(), value);
  if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || value > 65535) return false;
  const std::string hs(h);
  in6_addr buf{};
  if (inet_pton(v6 ? AF_INET6 : AF_INET, hs.c_str(), &buf) != 1) return false;
  host = hs;
  port = static_cast<std::uint16_t>(value);
  return true;
}

void apply_metrics_table(const toml::table& section, const std::string& file, metrics_settings& s) {
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "enabled") {
      s.enabled = field.boolean(file, n, key);
    } else if (key == "listen") {
      auto v = n.value_exact<std::string>();
      if (!v || !parse_listen(*v, s.host, s.port))
        field.fail(file, n, key,
                   "expected \"host:port\" with a numeric IPv4 address or a bracketed IPv6 address "
                   "and a port from 0 to 65535");
    } else {
      field.fail(file, n, key, "unknown key");
    }
  }
}

}  // namespace imcap::metrics
