#include <catch2/catch.hpp>

#include "modules/bayeux/bayeux.hpp"
#include "modules/poll_test_util.hpp"
#include "modules/zulip/zulip.hpp"

using namespace imcap::modules;
using imcap::modules::test::classifies;
using imcap::modules::test::location_text;
using imcap::modules::test::poll_case;
using imcap::modules::test::run;

namespace {
const decoder& zd = zulip::zulip_decoder;
const decoder& bx = bayeux::bayeux_decoder;
}  // namespace

TEST_CASE("zulip classification") {
  CHECK(classifies(zd, "POST", "/api/v1/messages", {{"Authorization", "Basic YTpi"}}));
  CHECK(classifies(zd, "POST", "https://acme.zulipchat.com/api/v1/messages"));
  CHECK_FALSE(classifies(zd, "POST", "https://api.example.com/api/v1/messages"));
  CHECK(classifies(zd, "POST", "/json/messages"));
  CHECK(classifies(zd, "PATCH", "/json/messages/1001"));
  CHECK(classifies(zd, "POST", "/json/user_uploads"));
  CHECK(classifies(zd, "GET", "/json/events?queue_id=1&last_event_id=-1"));
  CHECK(classifies(zd, "GET", "/api/v1/messages?anchor=newest", {{"Authorization", "Basic YTpi"}}));
  CHECK_FALSE(classifies(zd, "PATCH", "/json/messages/abc"));
  CHECK_FALSE(classifies(zd, "DELETE", "/json/messages"));
  CHECK_FALSE(classifies(zd, "POST", "/api/v2/messages"));
  CHECK_FALSE(classifies(zd, "POST", "/json/users"));
}

TEST_CASE("zulip edit and rewrite round trip") {
  poll_case c;
  c.method = "PATCH";
  c.target = "/json/messages/1001";
  c.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  c.body = "content=Neue+Zahlen%3A+1%2C3+Mio+%E2%82%AC&send_notification_to_old_thread=false";
  auto r = run(zd, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].text == "Neue Zahlen: 1,3 Mio \xe2\x82\xac");
  CHECK(r.events[0].attribute("edit_of") == "1001");
  std::string body = c.body;
  REQUIRE_FALSE(zd.rewrite(body, r.events[0].text_at, "[redacted]"));
  c.body = body;
  auto r2 = run(zd, c);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "[redacted]");
  CHECK(body.find("send_notification_to_old_thread=false") != std::string::npos);
}

TEST_CASE("zulip events: an inbound edit") {
  poll_case c;
  c.method = "GET";
  c.target = "/json/events?queue_id=q1&last_event_id=3";
  c.response_body =
      "{\"result\":\"success\",\"events\":[{\"type\":\"update_message\",\"id\":4,"
      "\"user_id\":12,\"message_id\":1001,\"edit_timestamp\":1714555900,"
      "\"content\":\"neu\",\"rendered_content\":\"<p>neu &amp; besser</p>\"}]}";
  auto r = run(zd, c);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].text == "neu & besser");
  CHECK(r.events[0].html == "<p>neu &amp; besser</p>");
  CHECK(r.events[0].attribute("edit_of") == "1001");
  CHECK(r.events[0].sender.id == "12");
  CHECK(r.events[0].timestamp == "2024-05-01T09:31:40Z");
  CHECK(location_text(r.events[0].text_at) == "json:/events/0/rendered_content");
}

TEST_CASE("zulip html_to_text") {
  CHECK(zulip::html_to_text("<p>a &amp; <b>b</b></p><p>c&#39;d</p>") == "a & b\nc'd");
  CHECK(zulip::html_to_text("x<br>y") == "x\ny");
  CHECK(zulip::html_to_text("unterminated <b") == "unterminated ");
  CHECK(zulip::html_to_text("&unknown; &lt;") == "&unknown; <");
}

TEST_CASE("zulip malformed bodies") {
  poll_case c;
  c.target = "/json/user_uploads";
  c.headers = {{"Content-Type", "multipart/form-data; boundary=zz"}};
  c.body = "--zz\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nno file\r\n--zz--\r\n";
  CHECK(run(zd, c).request_error.code == errc::malformed_multipart);
  poll_case ev;
  ev.method = "GET";
  ev.target = "/json/events?queue_id=q";
  ev.response_body = "{\"events\":{}}";
  CHECK(run(zd, ev).response_error.code == errc::malformed_json);
}

TEST_CASE("bayeux classification") {
  CHECK(classifies(bx, "POST", "/cometd"));
  CHECK(classifies(bx, "POST", "/cometd/58.0"));
  CHECK(classifies(bx, "POST", "/app/faye"));
  CHECK(classifies(bx, "GET", "/cometd?message=%5B%5D&jsonp=cb"));
  CHECK_FALSE(classifies(bx, "GET", "/cometd"));
  CHECK_FALSE(classifies(bx, "POST", "/comet"));
  CHECK_FALSE(classifies(bx, "PUT", "/cometd"));
}

TEST_CASE("bayeux: meta messages carry nothing; a publish rewrites cleanly") {
  poll_case c;
  c.target = "/cometd";
  c.headers = {{"Content-Type", "application/json"}};
  c.body =
      "[{\"channel\":\"/meta/handshake\",\"version\":\"1.0\",\"supportedConnectionTypes\":"
      "[\"long-polling\"]},{\"channel\":\"/chat/demo\",\"clientId\":\"c1\",\"id\":\"3\","
      "\"data\":{\"user\":\"alice\",\"chat\":\"Kunde 4711: IBAN folgt\"}}]";
  auto r = run(bx, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  CHECK(location_text(r.events[0].text_at) == "json:/1/data/chat");
  std::string body = c.body;
  REQUIRE_FALSE(bx.rewrite(body, r.events[0].text_at, "***"));
  c.body = body;
  auto r2 = run(bx, c);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "***");
  CHECK(r2.events[0].conversation_id == "/chat/demo");

  SECTION("callback-polling GET: decoded, not rewritable") {
    poll_case g;
    g.method = "GET";
    g.target =
        "/cometd?jsonp=cb1&message=%5B%7B%22channel%22%3A%22%2Fchat%2Fdemo%22%2C%22data%22%3A%7B"
        "%22chat%22%3A%22hi%22%7D%7D%5D";
    g.response_body =
        "cb1([{\"channel\":\"/chat/demo\",\"data\":{\"user\":\"bob\",\"chat\":\"yo\"}}])";
    auto rg = run(bx, g);
    REQUIRE_FALSE(rg.request_error);
    REQUIRE_FALSE(rg.response_error);
    REQUIRE(rg.events.size() == 2);
    CHECK(rg.events[0].text == "hi");
    CHECK(rg.events[0].text_at.empty());
    CHECK(rg.events[1].text == "yo");
    CHECK(rg.events[1].direction == direction::inbound);
  }
  SECTION("errors") {
    poll_case e = c;
    e.body = "{\"channel\":";
    CHECK(run(bx, e).request_error.code == errc::truncated);
    e.body = "17";
    CHECK(run(bx, e).request_error.code == errc::malformed_json);
    e.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    e.body = "other=1";
    CHECK(run(bx, e).request_error.code == errc::malformed_form);
  }
}
