// [webui]: the defaults documented in conf/imcapd.toml equal the compiled ones, and every bad
// value is reported as file:line:column: webui.key: reason.

#include <catch2/catch.hpp>

#include "quarantine/settings.hpp"

using namespace imcap::quarantine;

namespace {

webui_settings parse(const std::string& text) {
  const auto doc = toml::parse(std::string_view(text), std::string_view("test.toml"));
  webui_settings s;
  apply_webui_table(*doc["webui"].as_table(), "test.toml", s);
  finish_webui_settings(s, "test.toml");
  return s;
}

}  // namespace

TEST_CASE("conf/imcapd.toml documents the compiled [webui] defaults", "[quarantine]") {
  const auto s = load_webui_settings(IMCAP_SOURCE_DIR "/conf/imcapd.toml");
  const webui_settings d;
  CHECK(s.enabled == d.enabled);
  CHECK(s.host == d.host);
  CHECK(s.port == d.port);
  CHECK(s.tls_cert == d.tls_cert);
  CHECK(s.tls_key == d.tls_key);
  CHECK(s.session_idle == d.session_idle);
  CHECK(s.session_absolute == d.session_absolute);
  CHECK(s.login_max_failures == d.login_max_failures);
  CHECK(s.login_lockout == d.login_lockout);
}

TEST_CASE("[webui] values are parsed", "[quarantine]") {
  const auto s = parse(
      "[webui]\nenabled = false\nlisten = \"[::1]:0\"\nsession_idle_minutes = 5\n"
      "session_absolute_hours = 1\nlogin_max_failures = 3\nlogin_lockout_minutes = 2\n");
  CHECK(!s.enabled);
  CHECK(s.host == "::1");
  CHECK(s.port == 0);
  CHECK(s.session_idle == std::chrono::minutes(5));
  CHECK(s.session_absolute == std::chrono::hours(1));
  CHECK(s.login_max_failures == 3);
  CHECK(s.login_lockout == std::chrono::minutes(2));
}

TEST_CASE("bad [webui] values name file, line, column and key", "[quarantine]") {
  auto error_of = [](const std::string& text) {
    try {
      parse(text);
    } catch (const settings_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("[webui]\nlisten = \"localhost:8181\"\n") ==
        "test.toml:2:10: webui.listen: \"localhost\" is not a numeric IP address");
  CHECK(error_of("[webui]\nlisten = \"127.0.0.1:99999\"\n") ==
        "test.toml:2:10: webui.listen: the port must be a number from 0 to 65535");
  CHECK(error_of("[webui]\n\nenabled = 1\n") ==
        "test.toml:3:11: webui.enabled: expected true or false");
  CHECK(error_of("[webui]\nsession_idle_minutes = 0\n") ==
        "test.toml:2:24: webui.session_idle_minutes: expected an integer from 1 to 1440");
  CHECK(error_of("[webui]\ncolour = \"blue\"\n") == "test.toml:2:10: webui.colour: unknown key");
  CHECK(error_of("[webui]\ntls_cert = \"/nonexistent.pem\"\n") ==
        "test.toml: webui.tls_cert: tls_cert and tls_key go together");
  CHECK(error_of("[webui]\ntls_cert = \"/nonexistent.pem\"\ntls_key = \"/nonexistent.key\"\n") ==
        "test.toml: webui.tls_cert: /nonexistent.pem is not a readable file");
}
