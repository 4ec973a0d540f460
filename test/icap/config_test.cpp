// Configuration: the shipped file equals the embedded defaults; every mistake names
// file:line:column and the key.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "icap/config.hpp"

using namespace imcap::icap;

namespace {
struct temp_file {
  explicit temp_file(const std::string& text) {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           ("imcap-config-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml");
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

std::string error_of(const std::string& text) {
  temp_file f(text);
  try {
    load_config(f.path);
  } catch (const config_error& e) {
    std::string msg = e.what();
    auto name = f.path.string();
    REQUIRE(msg.rfind(name, 0) == 0);  // starts with the file name
    return msg.substr(name.size());
  }
  FAIL("no error for: " << text);
  return {};
}
}  // namespace

TEST_CASE("conf/imcapd.toml is exactly the embedded defaults") {
  std::ifstream in(IMCAP_SOURCE_DIR "/conf/imcapd.toml");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == embedded_default_config());
  auto c = load_config(IMCAP_SOURCE_DIR "/conf/imcapd.toml");
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].host == "127.0.0.1");
  CHECK(c.listen[0].port == 1344);
  CHECK(c.threads >= 1);
  CHECK(c.preview_size == 4096);
  CHECK(c.log.access_format == access_format::plain);
}

TEST_CASE("a file overrides only the keys it names") {
  temp_file f(
      "[server]\nlisten = [\"127.0.0.1:0\", \"[::1]:1345\"]\nthreads = 3\n[log]\naccess_format = "
      "\"json\"\n");
  auto c = load_config(f.path);
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[1].host == "::1");
  CHECK(c.listen[1].port == 1345);
  CHECK(c.threads == 3);
  CHECK(c.log.access_format == access_format::json);
  CHECK(c.options_ttl == 3600);  // untouched default
  CHECK(c.source == f.path.string());
}

TEST_CASE("errors name line, column and key") {
  CHECK(error_of("[server]\nthreds = 2\n") == ":2:10: server.threds: unknown key");
  CHECK(error_of("[server]\nthreads = \"two\"\n") ==
        ":2:11: server.threads: expected an integer from 0 to 256");
  CHECK(error_of("[server]\n\nthreads = 999\n") ==
        ":3:11: server.threads: expected an integer from 0 to 256");
  CHECK(error_of("[servr]\nthreads = 2\n").find(": servr: unknown section") != std::string::npos);
  CHECK(error_of("[server]\nlisten = [\"localhost:1344\"]\n")
            .find(":2:10: server.listen: \"localhost\" is not a numeric IP address") == 0);
  CHECK(error_of("[server]\nlisten = [\"127.0.0.1:99999\"]\n")
            .find("server.listen: \"99999\" is not a port") != std::string::npos);
  CHECK(error_of("[server]\nlisten = []\n").find("server.listen: needs at least one address") !=
        std::string::npos);
  CHECK(error_of("[log]\nlevel = \"loud\"\n").find(":2:9: log.level: expected one of") == 0);
  CHECK(
      error_of("[identity]\nusername_encoding = \"rot13\"\n").find("identity.username_encoding") !=
      std::string::npos);
  CHECK(error_of("[server]\nallow_206 = 1\n") == ":2:13: server.allow_206: expected true or false");
  // A TOML syntax error also points at its place.
  CHECK(error_of("[server]\nthreads = = 2\n").rfind(":2:", 0) == 0);
  CHECK(error_of("server = 3\n").find("server: expected a table") != std::string::npos);
}

TEST_CASE("a missing file is a clear error") {
  try {
    load_config("/nonexistent/imcapd.toml");
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/imcapd.toml") == 0);
  }
}
