#include "quarantine/settings.hpp"

#include <boost/asio/ip/address.hpp>

#include "common/toml_fields.hpp"

namespace imcap::quarantine {

namespace {

const toml_fields::section<settings_error> field{"webui"};

// "host:port" or "[v6]:port" with a numeric address.
void parse_listen(const std::string& file, const toml::node& n, std::string_view key,
                  webui_settings& s) {
  const std::string v = field.string(file, n, key);
  std::string host, port;
  if (v.starts_with("[")) {
    const auto close = v.find("]:");
    if (close == std::string::npos) field.fail(file, n, key, "expected \"[address]:port\"");
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    const auto colon = v.rfind(':');
    if (colon == std::string::npos || v.find(':') != colon) {
      field.fail(file, n, key, "expected \"address:port\" (IPv6 as \"[address]:port\")");
    }
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) field.fail(file, n, key, "\"" + host + "\" is not a numeric IP address");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    field.fail(file, n, key, "the port must be a number from 0 to 65535");
  }
  s.host = host;
  s.port = static_cast<std::uint16_t>(std::stoul(port));
}

}  // namespace

void apply_webui_table(const toml::table& section, const std::string& file, webui_settings& s) {
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "enabled") {
      s.enabled = field.boolean(file, n, key);
    } else if (key == "listen") {
      parse_listen(file, n, key, s);
    } else if (key == "tls_cert") {
      s.tls_cert = field.string(file, n, key);
    } else if (key == "tls_key") {
      s.tls_key = field.string(file, n, key);
    } else if (key == "session_idle_minutes") {
      s.session_idle = std::chrono::minutes(field.integer(file, n, key, 1, 24 * 60));
    } else if (key == "session_absolute_hours") {
      s.session_absolute = std::chrono::hours(field.integer(file, n, key, 1, 24 * 30));
    } else if (key == "login_max_failures") {
      s.login_max_failures = static_cast<unsigned>(field.integer(file, n, key, 1, 1000));
    } else if (key == "login_lockout_minutes") {
      s.login_lockout = std::chrono::minutes(field.integer(file, n, key, 1, 24 * 60));
    } else {
      field.fail(file, n, key, "unknown key");
    }
  }
}

void finish_webui_settings(const webui_settings& s, const std::string& file) {
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    throw settings_error(file + ": webui.tls_cert: tls_cert and tls_key go together");
  }
  for (const auto& [key, p] : {std::pair{"tls_cert", &s.tls_cert}, {"tls_key", &s.tls_key}}) {
    std::error_code ec;
    if (!p->empty() && !std::filesystem::is_regular_file(*p, ec)) {
      throw settings_error(file + ": webui." + key + ": " + p->string() +
                           " is not a readable file");
    }
  }
  if (s.session_absolute < s.session_idle) {
    throw settings_error(file +
                         ": webui.session_absolute_hours: shorter than session_idle_minutes");
  }
}

webui_settings load_webui_settings(const std::filesystem::path& config_file) {
  webui_settings s;
  const std::string name = config_file.string();
  toml::table doc;
  if (const auto* t = field.load(name, doc)) apply_webui_table(*t, name, s);
  finish_webui_settings(s, name);
  return s;
}

}  // namespace imcap::quarantine
