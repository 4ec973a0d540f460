#include <string>

#include <catch2/catch.hpp>

#include "metrics/settings.hpp"

using namespace imcap::metrics;

namespace {

metrics_settings apply(const std::string& text) {
  auto doc = toml::parse(std::string_view(text), std::string_view("test.toml"));
  metrics_settings s;
  apply_metrics_table(*doc["metrics"].as_table(), "test.toml", s);
  return s;
}

std::string error_of(const std::string& text) {
  try {
    apply(text);
  } catch (const settings_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("[metrics] keys: defaults, IPv4, IPv6, port 0") {
  metrics_settings d;
  CHECK_FALSE(d.enabled);
  CHECK(d.host == "127.0.0.1");
  CHECK(d.port == 9181);
  auto s = apply("[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n");
  CHECK(s.enabled);
  CHECK(s.port == 0);
  s = apply("[metrics]\nlisten = \"[::1]:9999\"\n");
  CHECK(s.host == "::1");
  CHECK(s.port == 9999);
}

TEST_CASE("[metrics] errors name file, line, column and key") {
  CHECK(error_of("[metrics]\nenabled = \"yes\"\n") ==
        "test.toml:2:11: metrics.enabled: expected true or false");
  CHECK(error_of("[metrics]\n\nlisten = \"localhost:9181\"\n")
            .rfind("test.toml:3:10: metrics.listen: expected \"host:port\"", 0) == 0);
  CHECK(error_of("[metrics]\nlisten = \"127.0.0.1:65536\"\n")
            .rfind("test.toml:2:10: metrics.listen:", 0) == 0);
  CHECK(error_of("[metrics]\nlisten = \"::1:80\"\n").rfind("test.toml:2:10: metrics.listen:", 0) ==
        0);
  CHECK(error_of("[metrics]\nport = 1\n") == "test.toml:2:8: metrics.port: unknown key");
}
