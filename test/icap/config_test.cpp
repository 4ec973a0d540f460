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
  try {
    load_config(std::filesystem::temp_directory_path());
    FAIL("no error for a directory");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("not a regular file") != std::string::npos);
  }
}

TEST_CASE("extension sections: declared by the defaults, handed over raw in overlay order") {
  // conf/imcapd.toml has [signatures], which icap does not interpret.
  const auto d = default_config();
  REQUIRE(d.extensions.count("signatures") == 1);
  REQUIRE(d.extensions.at("signatures").size() == 1);
  CHECK(d.extensions.at("signatures")[0].file == "<embedded defaults>");
  CHECK(d.extensions.at("signatures")[0].table->contains("store"));

  temp_file f("[signatures]\nstore = \"/srv/packs\"\nnot_checked_by_icap = 1\n");
  const auto c = load_config(f.path);
  const auto& tables = c.extensions.at("signatures");
  REQUIRE(tables.size() == 2);
  CHECK(tables[0].file == "<embedded defaults>");
  CHECK(tables[1].file == f.path.string());
  CHECK((*tables[1].table)["store"].value<std::string>() == "/srv/packs");
  // Its position survives, for the owner's file:line:column errors.
  CHECK((*tables[1].table)["not_checked_by_icap"].node()->source().begin.line == 3);

  // A section the defaults do not declare is still a typo.
  CHECK(error_of("[signature]\nstore = \"x\"\n").find(": signature: unknown section") !=
        std::string::npos);
  CHECK(error_of("signatures = 1\n").find("signatures: expected a table") != std::string::npos);
}

TEST_CASE("text_digest tells a changed file from an unchanged one") {
  temp_file a("[server]\noptions_ttl = 120\n");
  temp_file b("[server]\noptions_ttl = 120\n");
  temp_file c("[server]\noptions_ttl = 121\n");
  CHECK(load_config(a.path).text_digest == load_config(b.path).text_digest);
  CHECK(load_config(a.path).text_digest != load_config(c.path).text_digest);
  CHECK(load_config(a.path).text_digest != default_config().text_digest);
}
