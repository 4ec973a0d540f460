#include <catch2/catch.hpp>

#include "modules/registry.hpp"

using namespace imcap::modules;

namespace {
bool never(const request_head&) noexcept {
  return false;
}
decode_error nothing(const exchange&, std::vector<chat_event>&) {
  return {};
}
}  // namespace

TEST_CASE("the built-in decoder table is sound") {
  auto problems = validate_table(decoders());
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  for (const auto& d : decoders()) CHECK(find_decoder(d.name) == &d);
  CHECK(find_decoder("no-such-decoder") == nullptr);
}

TEST_CASE("validate_table names every problem") {
  decoder good{"a", "app", "fam", never, nothing, nullptr, nullptr};
  decoder dup = good;
  decoder bad{"Bad Name", "", "", nullptr, nullptr, nullptr, nullptr};
  decoder unnamed{"", "x", "x", never, nullptr, nothing, nullptr};
  std::vector<decoder> t{good, dup, bad, unnamed};
  auto p = validate_table(t);
  REQUIRE(p.size() == 7);
  CHECK(p[0].find("duplicate name") != std::string::npos);
  CHECK(p[1].find("lowercase") != std::string::npos);
  CHECK(p[2].find("no app") != std::string::npos);
  CHECK(p[3].find("no family") != std::string::npos);
  CHECK(p[4].find("no classify") != std::string::npos);
  CHECK(p[5].find("neither") != std::string::npos);
  CHECK(p[6].find("empty name") != std::string::npos);
  CHECK(validate_table(std::vector<decoder>{good}).empty());
}

TEST_CASE("an unclassified request decodes to nothing") {
  http_request req{request_head::make("GET", "http://example.com/", {}), ""};
  limits lim;
  exchange x{req, nullptr, "", "", nullptr, lim};
  auto r = decode_exchange(x);
  CHECK(r.used == nullptr);
  CHECK(r.events.empty());
  CHECK(!r.error);
}
