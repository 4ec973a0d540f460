#include <catch2/catch.hpp>

#include "modules/http.hpp"

using namespace imcap::modules;

namespace {
header_fields hf(std::initializer_list<std::pair<const char*, const char*>> l) {
  header_fields h;
  for (auto& [n, v] : l) h.add(n, v);
  return h;
}
}  // namespace

TEST_CASE("request_head from an absolute-form target") {
  auto h =
      request_head::make("POST", "http://API.Telegram.org:8080/bot1%3Ax/send%20Message?a=b%20c",
                         hf({{"Host", "other.example"}}));
  CHECK(h.host == "api.telegram.org");
  CHECK(h.path == "/bot1:x/send Message");
  CHECK(h.query == "a=b%20c");
  CHECK(h.query_param("a") == "b c");
  CHECK(!h.query_param("z"));
}

TEST_CASE("request_head from an origin-form target uses Host without port") {
  auto h = request_head::make("GET", "/api/x?q=1+2&e&q=3", hf({{"host", "Slack.COM:443"}}));
  CHECK(h.host == "slack.com");
  CHECK(h.path == "/api/x");
  CHECK(h.query_param("q") == "1 2");
  CHECK(h.query_param("e") == "");
  auto v6 = request_head::make("GET", "/", hf({{"Host", "[::1]:8080"}}));
  CHECK(v6.host == "::1");
  auto bad = request_head::make("GET", "/p?a=%zz", hf({{"Host", "h"}}));
  CHECK(!bad.query_param("a"));  // an unparsable query answers nothing rather than guessing
  auto none = request_head::make("GET", "/", {});
  CHECK(none.host.empty());
}

TEST_CASE("request_head keeps a target Boost.URL rejects") {
  auto h = request_head::make("GET", "/a b?x", hf({{"Host", "h"}}));
  CHECK(h.path == "/a b");
  CHECK(h.query == "x");
  CHECK(h.host == "h");
}

TEST_CASE("Content-Type media type and parameters") {
  auto h = request_head::make(
      "POST", "/",
      hf({{"Content-Type", "Multipart/Form-Data ; charset=UTF-8; boundary=\"a b\\\"c\""}}));
  CHECK(h.media_type() == "multipart/form-data");
  CHECK(h.content_type_param("boundary") == "a b\"c");
  CHECK(h.content_type_param("CHARSET") == "UTF-8");
  CHECK(!h.content_type_param("name"));
  CHECK(header_param("form-data; name=\"f\"; filename=\"x;y.txt\"", "filename") == "x;y.txt");
  CHECK(header_param("form-data; name=\"f\"; filename=\"x;y.txt\"", "name") == "f");
  CHECK(!header_param("form-data", "name"));
  http_response r;
  CHECK(r.media_type().empty());
  r.headers.add("content-type", "application/JSON");
  CHECK(r.media_type() == "application/json");
}
