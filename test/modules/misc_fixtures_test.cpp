// Fixture folders of the Mattermost, Rocket.Chat, Matrix, legacy and app transports, replayed
// through the decoder table: the events must equal expected.jsonl (as JSON values, in order),
// or the first error must carry the code in expected_error.txt.

#include <catch2/catch.hpp>

#include <iostream>

#include "misc_fixtures.hpp"
#include "modules/event.hpp"

using namespace misc_test;

namespace {

void check_family(std::string_view family) {
  const fs::path root = fixtures_root / family;
  REQUIRE(fs::is_directory(root));
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(!cases.empty());
  for (const auto& dir : cases) {
    SECTION(dir.filename().string()) {
      const std::string proxy_user =
          fs::exists(dir / "proxy_user.txt") ? trimmed(slurp(dir / "proxy_user.txt")) : "";
      auto r = run_fixture(dir, proxy_user);
      std::string actual;
      for (const auto& e : r.events) actual += boost::json::serialize(to_json(e)) + "\n";
      INFO("fixture " << dir << "\nactual events:\n" << actual << "error: " << r.error.message());
      if (std::getenv("MISC_FIXTURE_DUMP") != nullptr)
        std::cerr << "== " << dir.filename().string() << "\n" << actual << r.error.message() << "\n";
      for (const auto* d : r.used) CHECK(d != nullptr);
      if (fs::exists(dir / "expected_error.txt")) {
        CHECK(std::string(to_string(r.error.code)) == trimmed(slurp(dir / "expected_error.txt")));
      } else {
        CHECK(!r.error);
        const auto want = expected_events(dir);
        REQUIRE(r.events.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
          INFO("event " << i);
          CHECK(boost::json::value(to_json(r.events[i])) == want[i]);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("mattermost fixtures") { check_family("mattermost"); }
TEST_CASE("rocketchat fixtures") { check_family("rocketchat"); }
TEST_CASE("matrix fixtures") { check_family("matrix"); }
TEST_CASE("legacy fixtures") { check_family("legacy"); }
