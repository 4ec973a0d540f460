#include <catch2/catch.hpp>

#include "modules/poll_test_util.hpp"
#include "modules/polling/common.hpp"
#include "modules/session.hpp"
#include "modules/sockjs/sockjs.hpp"
#include "modules/wire.hpp"

using namespace imcap::modules;
using imcap::modules::test::classifies;
using imcap::modules::test::location_text;
using imcap::modules::test::poll_case;
using imcap::modules::test::run;

namespace {

const decoder& sj = sockjs::sockjs_decoder;
const decoder& mc = sockjs::methodcall_decoder;

// The reference xhr_send body: one DDP sendMessage.
const std::string ddp_send =
    "[\"{\\\"msg\\\":\\\"method\\\",\\\"method\\\":\\\"sendMessage\\\",\\\"params\\\":[{\\\"_"
    "id\\\":"
    "\\\"Xq7mTz9bRk2pA4cLd\\\",\\\"rid\\\":\\\"GENERAL\\\",\\\"msg\\\":\\\"Quarterly numbers "
    "attached?\\\"}],\\\"id\\\":\\\"7\\\"}\"]";

// The reference inbound frame: a stream-room-messages change.
const std::string ddp_changed =
    "a[\"{\\\"msg\\\":\\\"changed\\\",\\\"collection\\\":\\\"stream-room-messages\\\",\\\"id\\\":"
    "\\\"id\\\",\\\"fields\\\":{\\\"eventName\\\":\\\"GENERAL\\\",\\\"args\\\":[{\\\"_id\\\":"
    "\\\"m1\\\",\\\"rid\\\":\\\"GENERAL\\\",\\\"msg\\\":\\\"\\u00a1hola!\\\",\\\"u\\\":{\\\"_"
    "id\\\":"
    "\\\"u2\\\",\\\"username\\\":\\\"bob\\\"},\\\"ts\\\":{\\\"$date\\\":1688421337724}}]}}\"]\n";

}  // namespace

TEST_CASE("sockjs classification by the server/session/transport path shape") {
  CHECK(classifies(sj, "POST", "/sockjs/123/kd8f2j3q/xhr_send"));
  CHECK(classifies(sj, "POST", "/sockjs/123/kd8f2j3q/xhr"));
  CHECK(classifies(sj, "POST", "/echo/000/abc/xhr_streaming"));
  CHECK(classifies(sj, "GET", "/ws/42/s/eventsource"));
  CHECK(classifies(sj, "POST", "/x/999/q/jsonp_send?c=_jp.a1"));
  CHECK_FALSE(classifies(sj, "GET", "/sockjs/info"));
  CHECK_FALSE(classifies(sj, "POST", "/sockjs/abc/kd8f2j3q/xhr_send"));  // server id not digits
  CHECK_FALSE(classifies(sj, "POST", "/sockjs/123/kd8.f2/xhr_send"));    // dot in session
  CHECK_FALSE(classifies(sj, "POST", "/sockjs/123/kd8f2j3q/websocket"));
  CHECK_FALSE(classifies(sj, "POST", "/xhr_send"));
  CHECK_FALSE(classifies(sj, "DELETE", "/sockjs/123/kd8f2j3q/xhr_send"));

  CHECK(classifies(mc, "POST", "/api/v1/method.call/sendMessage"));
  CHECK(classifies(mc, "POST", "/api/v1/method.callAnon/loadHistory"));
  CHECK_FALSE(classifies(mc, "POST", "/api/v1/chat.sendMessage"));
  CHECK_FALSE(classifies(mc, "GET", "/api/v1/method.call/sendMessage"));
}

TEST_CASE("sockjs xhr_send: DDP sendMessage becomes a Rocket.Chat message") {
  poll_case c;
  c.target = "/sockjs/123/kd8f2j3q/xhr_send";
  c.headers = {{"Content-Type", "text/plain;charset=UTF-8"}};
  c.body = ddp_send;
  c.proxy_user = "alice";
  auto r = run(sj, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.app == "rocketchat");
  CHECK(e.transport == "sockjs");
  CHECK(e.text == "Quarterly numbers attached?");
  CHECK(e.conversation_id == "GENERAL");
  CHECK(e.client_msg_id == "Xq7mTz9bRk2pA4cLd");
  CHECK(e.attribute("ddp_method") == "sendMessage");
  CHECK(e.attribute("ddp_id") == "7");
  CHECK(e.sender.id == "alice");
  CHECK(e.session_key == wire::short_digest("kd8f2j3q"));
  CHECK(location_text(e.text_at) == "json:/0 json:/params/0/msg");

  SECTION("rewrite re-encodes both JSON layers") {
    std::string body = c.body;
    REQUIRE_FALSE(sj.rewrite(body, e.text_at, "he said \"no\" \xe2\x9c\x93"));
    poll_case again = c;
    again.body = body;
    auto r2 = run(sj, again);
    REQUIRE_FALSE(r2.request_error);
    REQUIRE(r2.events.size() == 1);
    CHECK(r2.events[0].text == "he said \"no\" \xe2\x9c\x93");
    CHECK(r2.events[0].conversation_id == "GENERAL");
  }
}

TEST_CASE("sockjs xhr poll: DDP changed from stream-room-messages; login teaches the user") {
  memory_session_store store;
  poll_case c;
  c.target = "/sockjs/123/kd8f2j3q/xhr";
  c.sessions = &store;
  c.response_body = ddp_changed;
  auto r = run(sj, c);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.direction == direction::inbound);
  CHECK(e.app == "rocketchat");
  CHECK(e.text == "\xc2\xa1hola!");
  CHECK(e.sender.id == "bob");
  CHECK(e.server_msg_id == "m1");
  CHECK(e.timestamp == "2023-07-03T21:55:37.724Z");
  CHECK(location_text(e.text_at) == "frame:0 json:/0 json:/fields/args/0/msg");

  SECTION("rewrite inside the a[...] frame keeps the frame and the newline") {
    std::string body = *c.response_body;
    REQUIRE_FALSE(sj.rewrite(body, e.text_at, "[blocked]"));
    CHECK(body.substr(0, 2) == "a[");
    CHECK(body.back() == '\n');
    poll_case again = c;
    again.response_body = body;
    auto r2 = run(sj, again);
    REQUIRE(r2.events.size() == 1);
    CHECK(r2.events[0].text == "[blocked]");
  }

  SECTION("a login result makes the session's user the sender of later sends") {
    poll_case login = c;
    login.response_body =
        "a[\"{\\\"msg\\\":\\\"result\\\",\\\"id\\\":\\\"1\\\",\\\"result\\\":{\\\"id\\\":"
        "\\\"u9\\\",\\\"token\\\":\\\"secret-token\\\",\\\"type\\\":\\\"resume\\\"}}\"]\n";
    auto rl = run(sj, login);
    REQUIRE(rl.events.size() == 1);
    CHECK(rl.events[0].kind == event_kind::identity);
    CHECK(rl.events[0].sender.id == "u9");
    poll_case send;
    send.target = "/sockjs/123/kd8f2j3q/xhr_send";
    send.body = ddp_send;
    send.sessions = &store;
    send.proxy_user = "alice";
    auto rs = run(sj, send);
    REQUIRE(rs.events.size() == 1);
    CHECK(rs.events[0].sender.id == "u9");
    CHECK(rs.events[0].sender.source == identity_source::learned);
  }
}

TEST_CASE("sockjs frames: streaming prelude, eventsource, jsonp, plain and JSON strings") {
  SECTION("xhr_streaming: prelude, open, two message frames, heartbeat") {
    poll_case c;
    c.target = "/echo/000/abc/xhr_streaming";
    c.response_body = std::string(2048, 'h') + "\no\na[\"hello\",\"w\\u00f6rld\"]\nh\n" +
                      "a[\"{\\\"to\\\":\\\"bob\\\",\\\"text\\\":\\\"hi\\\"}\"]\n";
    auto r = run(sj, c);
    REQUIRE_FALSE(r.response_error);
    REQUIRE(r.events.size() == 3);
    CHECK(r.events[0].text == "hello");
    CHECK(location_text(r.events[0].text_at) == "frame:1 json:/0");
    CHECK(r.events[1].text == "w\xc3\xb6rld");
    CHECK(r.events[2].text == "hi");
    CHECK(r.events[2].conversation_id == "bob");
    CHECK(location_text(r.events[2].text_at) == "frame:3 json:/0 json:/text");
    std::string body = *c.response_body;
    REQUIRE_FALSE(sj.rewrite(body, r.events[1].text_at, "x"));
    CHECK(body == std::string(2048, 'h') + "\no\na[\"hello\",\"x\"]\nh\n" +
                      "a[\"{\\\"to\\\":\\\"bob\\\",\\\"text\\\":\\\"hi\\\"}\"]\n");
  }
  SECTION("eventsource data lines") {
    poll_case c;
    c.method = "GET";
    c.target = "/echo/000/abc/eventsource";
    c.response_body = "\r\ndata: o\r\n\r\ndata: a[\"one\"]\r\n\r\n";
    auto r = run(sj, c);
    REQUIRE_FALSE(r.response_error);
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].text == "one");
    std::string body = *c.response_body;
    REQUIRE_FALSE(sj.rewrite(body, r.events[0].text_at, "two"));
    CHECK(body == "\r\ndata: o\r\n\r\ndata: a[\"two\"]\r\n\r\n");
  }
  SECTION("jsonp poll and jsonp_send") {
    poll_case c;
    c.method = "GET";
    c.target = "/echo/000/abc/jsonp?c=_jp.a1";
    c.response_body = "_jp.a1(\"a[\\\"over jsonp\\\"]\");\r\n";
    auto r = run(sj, c);
    REQUIRE_FALSE(r.response_error);
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].text == "over jsonp");
    std::string body = *c.response_body;
    REQUIRE_FALSE(sj.rewrite(body, r.events[0].text_at, "changed"));
    CHECK(body == "_jp.a1(\"a[\\\"changed\\\"]\");\r\n");

    poll_case s;
    s.target = "/echo/000/abc/jsonp_send";
    s.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    s.body = "d=%5B%22x%20y%22%5D";
    auto rs = run(sj, s);
    REQUIRE_FALSE(rs.request_error);
    REQUIRE(rs.events.size() == 1);
    CHECK(rs.events[0].text == "x y");
    CHECK(location_text(rs.events[0].text_at) == "form:d json:/0");
  }
  SECTION("STOMP SEND frame (Spring)") {
    poll_case c;
    c.target = "/ws/123/s1/xhr_send";
    c.body = "[\"SEND\\ndestination:/app/chat.room1\\ncontent-length:5\\n\\nhello\\u0000\"]";
    auto r = run(sj, c);
    REQUIRE_FALSE(r.request_error);
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].conversation_id == "/app/chat.room1");
    CHECK(r.events[0].text == "hello");
    CHECK(r.events[0].attribute("stomp_command") == "SEND");
  }
  SECTION("splitting at every cut never crashes and keeps whole frames") {
    const std::string body = "o\na[\"a\",\"b\"]\nh\nc[3000,\"Go away!\"]\n";
    std::vector<sockjs::frame_span> whole;
    REQUIRE_FALSE(sockjs::split_frames(body, {}, whole));
    REQUIRE(whole.size() == 4);
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      std::vector<sockjs::frame_span> p;
      const auto err = sockjs::split_frames(std::string_view(body).substr(0, cut), {}, p);
      CHECK_FALSE(err);  // every prefix of valid frames starts with a frame letter
      for (std::size_t k = 0; k + 1 < p.size(); ++k) {
        CHECK(p[k].offset == whole[k].offset);
        CHECK(p[k].length == whole[k].length);
      }
    }
  }
}

TEST_CASE("sockjs malformed bodies") {
  poll_case c;
  c.target = "/sockjs/123/kd8f2j3q/xhr_send";
  SECTION("broken JSON") {
    c.body = "[\"abc\"";
    CHECK(run(sj, c).request_error);
  }
  SECTION("not an array of strings") {
    c.body = "[\"ok\", 5]";
    auto r = run(sj, c);
    CHECK(r.request_error.code == errc::malformed_frame);
    CHECK(r.events.size() == 1);
  }
  SECTION("empty send body") {
    c.body = "";
    CHECK(run(sj, c).request_error.code == errc::truncated);
  }
  SECTION("unknown frame letter in a poll response, earlier frames kept") {
    c.target = "/sockjs/123/kd8f2j3q/xhr";
    c.response_body = "a[\"first\"]\nz[1]\n";
    auto r = run(sj, c);
    CHECK(r.response_error.code == errc::malformed_frame);
    CHECK(r.events.size() == 1);
  }
}

TEST_CASE("rocketchat method.call: double-encoded DDP, sender from X-User-Id") {
  poll_case c;
  c.target = "/api/v1/method.call/sendMessage";
  c.headers = {{"Content-Type", "application/json"},
               {"X-User-Id", "aobEdbYhXfu5hkeqG"},
               {"X-Auth-Token", "9HqLlyZOugoStsXCUfD_0YdwnNnunAJF8V47U3QHXSq"}};
  c.body =
      "{\"message\":\"{\\\"msg\\\":\\\"method\\\",\\\"id\\\":\\\"7\\\",\\\"method\\\":"
      "\\\"sendMessage\\\",\\\"params\\\":[{\\\"_id\\\":\\\"c1\\\",\\\"rid\\\":\\\"GENERAL\\\","
      "\\\"msg\\\":\\\"Z\\u00fcrich \\ud83d\\ude00\\\",\\\"tmid\\\":\\\"root1\\\"}]}\"}";
  auto r = run(mc, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.app == "rocketchat");
  CHECK(e.transport == "rocketchat-methodcall");
  CHECK(e.text == "Z\xc3\xbcrich \xf0\x9f\x98\x80");
  CHECK(e.sender.id == "aobEdbYhXfu5hkeqG");
  CHECK(e.attribute("thread_id") == "root1");
  CHECK(e.session_key == wire::short_digest("9HqLlyZOugoStsXCUfD_0YdwnNnunAJF8V47U3QHXSq"));
  CHECK(location_text(e.text_at) == "json:/message json:/params/0/msg");

  std::string body = c.body;
  REQUIRE_FALSE(mc.rewrite(body, e.text_at, "clean"));
  poll_case again = c;
  again.body = body;
  auto r2 = run(mc, again);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "clean");

  SECTION("malformed inner JSON") {
    poll_case bad = c;
    bad.body = "{\"message\":\"{\\\"msg\\\":\"}";
    CHECK(run(mc, bad).request_error);
    bad.body = "{\"msg\":1}";
    CHECK(run(mc, bad).request_error.code == errc::malformed_json);
  }
}
