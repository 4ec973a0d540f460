// Replays every REST fixture folder (test/modules/fixtures/{teams,slack,discord,googlechat,
// webex}/<case>/) through the decoder table and compares with expected.jsonl, or with the errc
// name in expected_error.txt for a malformed variant.

#include <catch2/catch.hpp>

#include "rest_support.hpp"

using namespace imcap::modules;

namespace {

void check_family(std::string_view family) {
  auto dirs = rest_test::fixture_dirs(family);
  REQUIRE(!dirs.empty());
  for (const auto& dir : dirs) {
    INFO("fixture " << dir.filename().string() << " (" << family << ")");
    rest_test::replay_result r = rest_test::replay(dir);
    CHECK(r.unclassified.empty());
    if (std::filesystem::exists(dir / "expected_error.txt")) {
      std::string want = rest_test::read_file(dir / "expected_error.txt");
      while (!want.empty() && (want.back() == '\n' || want.back() == '\r')) want.pop_back();
      INFO("error: " << r.error.message());
      CHECK(std::string(to_string(r.error.code)) == want);
      // Events decoded before the error are kept: when expected.jsonl is there too, they must
      // be exactly those.
      if (!std::filesystem::exists(dir / "expected.jsonl")) continue;
    } else {
      INFO("error: " << r.error.message());
      CHECK(!r.error);
    }
    auto want = rest_test::expected_events(dir);
    std::string got_text;
    for (const auto& e : r.events) got_text += boost::json::serialize(to_json(e)) + "\n";
    INFO("decoded:\n" << got_text);
    REQUIRE(r.events.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("event " << i);
      CHECK(boost::json::value(to_json(r.events[i])) == want[i]);
    }
  }
}

}  // namespace

TEST_CASE("teams fixtures", "[teams][fixtures]") { check_family("teams"); }
TEST_CASE("slack fixtures", "[slack][fixtures]") { check_family("slack"); }
TEST_CASE("discord fixtures", "[discord][fixtures]") { check_family("discord"); }
TEST_CASE("googlechat fixtures", "[googlechat][fixtures]") { check_family("googlechat"); }
TEST_CASE("webex fixtures", "[webex][fixtures]") { check_family("webex"); }
