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
http_reply refuse(const exchange&, const chat_event&, const notice&) {
  return {};
}
decode_error strip_none(std::string&, const location&) {
  return {};
}
decode_error inject_none(std::string&, const exchange&, const notice&) {
  return {};
}
std::string no_session(const request_head&) {
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
  good.render_block = refuse;
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

TEST_CASE("validate_table checks the reply hooks") {
  decoder d{"a", "app", "fam", never, nothing, nothing, nullptr};
  d.render_block = refuse;
  CHECK(validate_table(std::vector<decoder>{d}).empty());
  auto only = [](const decoder& x) { return validate_table(std::vector<decoder>{x}); };
  SECTION("outbound decoding needs render_block") {
    decoder x = d;
    x.render_block = nullptr;
    auto p = only(x);
    REQUIRE(p.size() == 1);
    CHECK(p[0].find("render_block") != std::string::npos);
  }
  SECTION("inject_notice needs a session and decode_response") {
    decoder x = d;
    x.inject_notice = inject_none;
    auto p = only(x);
    REQUIRE(p.size() == 1);
    CHECK(p[0].find("session_of") != std::string::npos);
    x.session_of = no_session;
    CHECK(only(x).empty());
    x.decode_response = nullptr;
    p = only(x);
    REQUIRE(p.size() == 1);
    CHECK(p[0].find("decode_response") != std::string::npos);
  }
  SECTION("strip needs decode_request and inject_notice") {
    decoder x = d;
    x.strip = strip_none;
    auto p = only(x);
    REQUIRE(p.size() == 1);
    CHECK(p[0].find("inject_notice") != std::string::npos);
    x.inject_notice = inject_none;
    x.session_of = no_session;
    CHECK(only(x).empty());
    x.decode_request = nullptr;
    x.render_block = nullptr;
    p = only(x);
    REQUIRE(p.size() == 1);
    CHECK(p[0].find("strip without decode_request") != std::string::npos);
  }
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
