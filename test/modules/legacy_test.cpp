#include <catch2/catch.hpp>

#include "misc_fixtures.hpp"
#include "modules/legacy/aim_wim.hpp"
#include "modules/legacy/msn_gateway.hpp"
#include "modules/legacy/ymsg_http.hpp"

using namespace imcap::modules;

namespace {

request_head head(std::string method, std::string url) {
  return request_head::make(std::move(method), std::move(url), {});
}

using decode_fn = decode_error (*)(const exchange&, std::vector<chat_event>&);

std::vector<chat_event> run(decode_fn fn, const http_request& req, decode_error* err = nullptr) {
  limits lim;
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  const auto e = fn(x, out);
  if (err != nullptr) *err = e;
  return out;
}

const misc_test::fs::path legacy = misc_test::fixtures_root / "legacy";

}  // namespace

TEST_CASE("legacy classifiers take their gateways only") {
  CHECK(msn::classify(head(
      "POST", "http://gateway.messenger.hotmail.com/gateway/gateway.dll?Action=open&Server=NS")));
  CHECK(msn::classify(head("POST", "http://207.46.110.18/gateway/gateway.dll?SessionID=1.2")));
  CHECK_FALSE(msn::classify(head("GET", "http://207.46.110.18/gateway/gateway.dll?SessionID=1.2")));
  CHECK_FALSE(msn::classify(head("POST", "http://example.com/gateway.dll")));

  CHECK(ymsg::classify(head("POST", "http://http.pager.yahoo.com/notify")));
  CHECK_FALSE(ymsg::classify(head("POST", "http://example.com/notify")));
  CHECK_FALSE(ymsg::classify(head("GET", "http://http.pager.yahoo.com/notify")));
  CHECK_FALSE(ymsg::classify(head("POST", "http://news.yahoo.com/world")));

  CHECK(aim::classify(head("POST", "http://api.oscar.aol.com/im/sendIM?aimsid=a")));
  CHECK(aim::classify(
      head("GET", "https://u.icq.net/api/v14/wim/im/sendIM?aimsid=a&t=b&message=hi")));
  CHECK(aim::classify(head("GET", "http://api.oscar.aol.com/aim/fetchEvents?aimsid=a")));
  CHECK(aim::classify(head("GET", "http://api.oscar.aol.com/aim/startSession?k=x")));
  CHECK_FALSE(aim::classify(head("GET", "http://api.oscar.aol.com/presence/get?aimsid=a")));
  CHECK_FALSE(aim::classify(head("GET", "https://www.aol.com/news/")));
}

TEST_CASE("msn rewrite recomputes the MSG byte count and keeps the other commands") {
  const auto req = misc_test::load_request(legacy / "msn-session/03-request.http");
  // A body with a command after the MSG, so a wrong count would break it.
  http_request two{req.head, req.body + "PNG\r\n"};
  auto ev = run(&msn::decode_request, two);
  REQUIRE(ev.size() == 1);
  std::string body = two.body;
  REQUIRE_FALSE(msn::rewrite(body, ev[0].text_at, "[removed — policy]"));
  CHECK(body.starts_with(
      "MSG 3 A " + std::to_string(140 - 27 + std::string("[removed — policy]").size()) + "\r\n"));
  CHECK(body.ends_with("[removed — policy]PNG\r\n"));
  http_request again{req.head, body};
  decode_error err;
  auto ev2 = run(&msn::decode_request, again, &err);
  CHECK_FALSE(err);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].text == "[removed — policy]");
  CHECK(ev2[0].attribute("format") == ev[0].attribute("format"));
}

TEST_CASE("msn: every cut of a body is an error or a clean prefix, never a crash") {
  const auto req = misc_test::load_request(legacy / "msn-session/03-request.http");
  for (std::size_t n = 0; n <= req.body.size(); ++n) {
    http_request cut{req.head, req.body.substr(0, n)};
    decode_error err;
    auto ev = run(&msn::decode_request, cut, &err);
    if (n == 0 || n == req.body.size()) {
      CHECK_FALSE(err);
    } else {
      CHECK(err.code == errc::truncated);
      CHECK(ev.empty());
    }
  }
}

TEST_CASE("msn: lines that are not MSNP and counts that are not numbers") {
  decode_error err;
  http_request junk{head("POST", "http://gw/gateway/gateway.dll"),
                    "<html><body>hello</body></html>\r\n"};
  run(&msn::decode_request, junk, &err);
  CHECK(err.code == errc::malformed_frame);
  http_request nolen{head("POST", "http://gw/gateway/gateway.dll"), "MSG 3 A many\r\nhello"};
  run(&msn::decode_request, nolen, &err);
  CHECK(err.code == errc::malformed_frame);
  std::string body = "VER 1 MSNP8\r\n";
  CHECK(msn::rewrite(body, location{{{layer_kind::frame, "0"}, {layer_kind::bytes, "0:1"}}}, "x")
            .code == errc::malformed_frame);
  CHECK(body == "VER 1 MSNP8\r\n");
}

TEST_CASE("ymsg rewrite keeps the packet valid in UTF-8 and in Latin-1") {
  const auto req = misc_test::load_request(legacy / "ymsg-message/request.http");
  auto ev = run(&ymsg::decode_request, req);
  REQUIRE(ev.size() == 1);
  std::string body = req.body;
  REQUIRE_FALSE(ymsg::rewrite(body, ev[0].text_at, "[entfernt — Richtlinie]"));
  http_request again{req.head, body};
  decode_error err;
  auto ev2 = run(&ymsg::decode_request, again, &err);
  CHECK_FALSE(err);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].text == "[entfernt — Richtlinie]");
  CHECK(ev2[0].recipients.at(0).id == "bob_ext");

  // The answer's messages are Latin-1: the replacement is stored as Latin-1 and reads back.
  const auto resp = misc_test::load_response(legacy / "ymsg-message/response.http");
  limits lim;
  exchange x{req, &resp, "", "", nullptr, lim};
  std::vector<chat_event> in;
  REQUIRE_FALSE(ymsg::decode_response(x, in));
  REQUIRE(in.size() == 2);
  std::string rbody = resp.body;
  REQUIRE_FALSE(ymsg::rewrite(rbody, in[0].text_at, "Grüße entfernt"));
  CHECK(rbody.find("Gr\xfc\xdf"
                   "e entfernt") != std::string::npos);
  http_response r2 = resp;
  r2.body = rbody;
  exchange y{req, &r2, "", "", nullptr, lim};
  std::vector<chat_event> in2;
  REQUIRE_FALSE(ymsg::decode_response(y, in2));
  REQUIRE(in2.size() == 2);
  CHECK(in2[0].text == "Grüße entfernt");
  CHECK(in2[1].text == "Zahlen sind gut");
}

TEST_CASE("ymsg: every cut of a packet stream is an error or a clean prefix") {
  const auto req = misc_test::load_request(legacy / "ymsg-message/request.http");
  const std::string two = req.body + req.body;
  for (std::size_t n = 0; n <= two.size(); ++n) {
    http_request cut{req.head, two.substr(0, n)};
    decode_error err;
    auto ev = run(&ymsg::decode_request, cut, &err);
    const bool boundary = n == 0 || n == req.body.size() || n == two.size();
    if (boundary) {
      CHECK_FALSE(err);
      CHECK(ev.size() == n / req.body.size());
    } else {
      CHECK(err.code == errc::truncated);
      CHECK(ev.size() == (n > req.body.size() ? 1u : 0u));  // the whole first packet is kept
    }
  }
}

TEST_CASE("aim rewrite replaces the form message and keeps the other fields") {
  const auto req = misc_test::load_request(legacy / "aim-session/02-request.http");
  auto ev = run(&aim::decode_request, req);
  REQUIRE(ev.size() == 1);
  std::string body = req.body;
  REQUIRE_FALSE(aim::rewrite(body, ev[0].text_at, "removed & logged"));
  http_request again{req.head, body};
  auto ev2 = run(&aim::decode_request, again);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].text == "removed & logged");
  CHECK(ev2[0].conversation_id == "bob_ext");
  CHECK(body.find("autoResponse=0") != std::string::npos);
  CHECK(aim::rewrite(body, location{{{layer_kind::form, "nope"}}}, "x").code ==
        errc::malformed_form);
}

TEST_CASE("aim: sendIM without message is an error; a query-only message is not rewritable") {
  decode_error err;
  http_request none{head("POST", "http://api.oscar.aol.com/im/sendIM?aimsid=a&t=bob"), ""};
  run(&aim::decode_request, none, &err);
  CHECK(err.code == errc::malformed_form);
  http_request q{
      head("GET", "http://api.oscar.aol.com/im/sendIM?aimsid=a&t=bob&message=hi%20there"), ""};
  auto ev = run(&aim::decode_request, q, &err);
  CHECK_FALSE(err);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "hi there");
  CHECK(ev[0].text_at.empty());
}
