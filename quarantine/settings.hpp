#pragma once
// The [webui] section of imcapd.toml: where the reviewer UI listens, TLS, session lifetimes and
// login throttling. imcapd's config loader (icap/) hands the raw tables of the section here,
// first the embedded defaults, then the file; this parser validates every key.
//
// Errors throw settings_error: "file:line:column: webui.key: reason".

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <toml++/toml.h>

namespace imcap::quarantine {

class settings_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct webui_settings {
  bool enabled = true;
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6 address
  std::uint16_t port = 8181;       // 0: any free port (tests)
  std::filesystem::path tls_cert;  // PEM; both or neither of tls_cert / tls_key
  std::filesystem::path tls_key;
  std::chrono::minutes session_idle{30};    // a session unused this long ends
  std::chrono::hours session_absolute{12};  // a session ends this long after login, used or not
  unsigned login_max_failures = 5;          // failed logins (per user name and per address) ...
  std::chrono::minutes login_lockout{15};   // ... within this window lock logins for as long
};

// Applies one [webui] table over `s`. `file` names the table's source in errors.
void apply_webui_table(const toml::table& section, const std::string& file, webui_settings& s);

// Checks what needs the whole picture (tls_cert and tls_key together, files readable). Call
// after the last apply_webui_table. Throws settings_error naming `file`.
void finish_webui_settings(const webui_settings& s, const std::string& file);

// For imcapctl and the test server: defaults, overlaid with the [webui] table of `config_file`.
webui_settings load_webui_settings(const std::filesystem::path& config_file);

}  // namespace imcap::quarantine
