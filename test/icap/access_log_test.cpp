// Access-log formatting: a line always splits into the same columns, JSON always parses.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "icap/access_log.hpp"

using namespace imcap::icap;

TEST_CASE("plain lines escape what would break the columns") {
  access_record r;
  r.id = 7;
  r.peer = "127.0.0.1:4000";
  r.user = "CORP\\alice smith";
  r.icap_method = "REQMOD";
  r.service = "/echo";
  r.status = 200;
  r.http_method = "POST";
  r.http_url = "http://x/a b\r\nInjected: 1%\"";
  r.verdict = "allow";
  auto line = format_access_record(r, access_format::plain);
  CHECK(line ==
        "7 127.0.0.1:4000 - CORP\\alice%20smith REQMOD /echo 200 POST "
        "http://x/a%20b%0D%0AInjected:%201%25%22 0 0 0 allow - -");
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("JSON lines are valid JSON whatever the strings hold") {
  access_record r;
  r.http_url = "http://x/\"quoted\"\n\x01";
  r.user = "\xc3\xa9lodie";
  r.status = 403;
  access_log log(log_settings{"-", "info", "", access_format::json});
  std::string line;
  log.append_line(line, r);
  REQUIRE(line.back() == '\n');
  auto v = boost::json::parse(line);
  CHECK(v.at("http_url").as_string() == "http://x/\"quoted\"\n\x01");
  CHECK(v.at("user").as_string() == "\xc3\xa9lodie");
  CHECK(v.at("status").as_int64() == 403);
  CHECK(v.at("time").as_string().size() == 24);  // 2026-11-23T11:04:30.123Z
}
