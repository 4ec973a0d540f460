#include <catch2/catch.hpp>

#include "modules/engineio/engineio.hpp"
#include "modules/poll_test_util.hpp"
#include "modules/polling/common.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

using namespace imcap::modules;
using imcap::modules::test::location_text;
using imcap::modules::test::poll_case;
using imcap::modules::test::run;

namespace {

const decoder& sio = engineio::socketio_decoder;
const std::string pdf_sha = "e16fa5d9b51928755db85b917f0297babaf22c7a47e97d9212adab56e61ba04e";
const std::string sid_target =
    "/socket.io/?EIO=4&transport=polling&t=N8hzxke&sid=lv_VI97HAXpY6yYWAAAC";

// The reference POST body: a chat message and a file in one v4 payload.
const std::string v4_body =
    "42[\"chat message\",{\"to\":\"room:finance\",\"text\":\"Quarterly numbers attached?\"}]"
    "\x1e"
    "451-[\"upload\",{\"to\":\"room:finance\",\"name\":\"q3.pdf\"},{\"_placeholder\":true,"
    "\"num\":0}]"
    "\x1e"
    "bJVBERi0xLjQ=";

std::string v3_record(const std::string& packet, std::size_t units) {
  return std::to_string(units) + ":" + packet;
}

}  // namespace

TEST_CASE("socketio classifies Engine.IO polling from the query, whatever the path") {
  using imcap::modules::test::classifies;
  CHECK(classifies(sio, "POST", sid_target));
  CHECK(classifies(sio, "GET", "/socket.io/?EIO=4&transport=polling&t=N8hzxke"));
  CHECK(classifies(sio, "GET", "/chat/realtime/?EIO=3&transport=polling&t=1&b64=1"));
  CHECK(classifies(sio, "POST", "/engine.io/?EIO=4&transport=polling&sid=abc"));
  CHECK_FALSE(classifies(sio, "GET", "/socket.io/?EIO=4&transport=websocket&sid=abc"));
  CHECK_FALSE(classifies(sio, "GET", "/socket.io/?transport=polling"));
  CHECK_FALSE(classifies(sio, "GET", "/socket.io/socket.io.js"));
  CHECK_FALSE(classifies(sio, "PUT", sid_target));
  CHECK_FALSE(classifies(sio, "GET", "/search?q=EIO=4&transport=polling"));
  // The table finds it too.
  const decoder* found = classify(imcap::modules::test::make_head("POST", sid_target, {}));
  REQUIRE(found != nullptr);
  CHECK(found->name == "socketio");
}

TEST_CASE("socketio v4: a chat event and a binary event with its attachment in one POST") {
  poll_case c;
  c.target = sid_target;
  c.headers = {{"Content-Type", "text/plain; charset=UTF-8"}};
  c.body = v4_body;
  c.proxy_user = "alice";
  auto r = run(sio, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 2);

  const auto& m = r.events[0];
  CHECK(m.kind == event_kind::message);
  CHECK(m.direction == direction::outbound);
  CHECK(m.transport == "socketio");
  CHECK(m.text == "Quarterly numbers attached?");
  CHECK(location_text(m.text_at) == "frame:0 json:/1/text");
  CHECK(m.conversation_id == "room:finance");
  REQUIRE(m.recipients.size() == 1);
  CHECK(m.recipients[0].id == "room:finance");
  CHECK(m.sender.id == "alice");
  CHECK(m.sender.source == identity_source::proxy);
  CHECK(m.attribute("event") == "chat message");
  // The sid is a session secret: only its digest is shown.
  CHECK(m.session_key == wire::short_digest("lv_VI97HAXpY6yYWAAAC"));
  CHECK(m.session_key.size() == 16);
  CHECK(m.session_key.find("lv_VI") == std::string::npos);

  const auto& u = r.events[1];
  CHECK(u.attribute("event") == "upload");
  CHECK(u.text.empty());
  REQUIRE(u.attachments.size() == 1);
  CHECK(u.attachments[0].name == "q3.pdf");
  CHECK(u.attachments[0].bytes == "%PDF-1.4");
  CHECK(u.attachments[0].size == 8u);
  CHECK(u.attachments[0].sha256 == pdf_sha);
  CHECK(location_text(u.attachments[0].at) == "frame:2");
  CHECK_FALSE(u.attribute("binary_pending"));
}

TEST_CASE("socketio: a binary placeholder completed by the next POST of the same sid") {
  memory_session_store store;
  poll_case first;
  first.target = sid_target;
  first.body =
      "451-[\"upload\",{\"room\":\"finance\",\"name\":\"q3.pdf\",\"type\":\"application/pdf\"},"
      "{\"_placeholder\":true,\"num\":0}]";
  first.sessions = &store;
  auto r1 = run(sio, first);
  REQUIRE_FALSE(r1.request_error);
  REQUIRE(r1.events.size() == 1);
  CHECK(r1.events[0].attribute("binary_pending") == "1");
  REQUIRE(r1.events[0].attachments.size() == 1);
  CHECK(r1.events[0].attachments[0].bytes.empty());
  const std::string ref = r1.events[0].attachments[0].ref;
  CHECK_FALSE(ref.empty());

  poll_case second = first;
  second.body =
      "bJVBERi0xLjQ=\x1e"
      "42[\"chat message\",\"after\"]";
  auto r2 = run(sio, second);
  REQUIRE_FALSE(r2.request_error);
  REQUIRE(r2.events.size() == 2);
  const auto& up = r2.events[0];
  CHECK(up.kind == event_kind::upload);
  CHECK(up.conversation_id == "finance");
  CHECK(up.attribute("event") == "upload");
  REQUIRE(up.attachments.size() == 1);
  CHECK(up.attachments[0].ref == ref);  // the archive joins the bytes to the first event
  CHECK(up.attachments[0].name == "q3.pdf");
  CHECK(up.attachments[0].media_type == "application/pdf");
  CHECK(up.attachments[0].sha256 == pdf_sha);
  CHECK(r2.events[1].text == "after");

  // Completed: a third binary packet is no longer taken for that upload.
  poll_case third = first;
  third.body = "bAQIDBA==";
  auto r3 = run(sio, third);
  REQUIRE(r3.events.size() == 1);
  CHECK(r3.events[0].attachments[0].ref.empty());
  CHECK_FALSE(r3.events[0].attribute("event"));

  // Without a session store nothing is carried over, and nothing breaks.
  poll_case stateless = second;
  stateless.sessions = nullptr;
  auto r4 = run(sio, stateless);
  REQUIRE(r4.events.size() == 2);
  CHECK(r4.events[0].attachments[0].ref.empty());
}

TEST_CASE("socketio v3 text: lengths count UTF-16 units, a non-BMP emoji counts 2") {
  const std::string packet = "42[\"chat message\",\"h\xc3\xa9llo \xf0\x9f\x98\x80\"]";
  REQUIRE(packet.size() == 32);  // bytes
  CHECK(polling::utf16_length(packet) == 29);
  poll_case c;
  c.target = "/socket.io/?EIO=3&transport=polling&t=M1&sid=s3";
  c.body = v3_record(packet, 29) + v3_record("2", 1);
  auto r = run(sio, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].text == "h\xc3\xa9llo \xf0\x9f\x98\x80");
  CHECK(location_text(r.events[0].text_at) == "frame:0 json:/1");
  CHECK(r.events[0].attribute("eio") == "3");

  // A byte count instead of a UTF-16 count runs past the record: an error, not a misread.
  c.body = v3_record(packet, 32);
  auto bad = run(sio, c);
  CHECK(bad.request_error.code == errc::truncated);
  CHECK(bad.events.empty());
}

TEST_CASE("socketio v3 binary (XHR2) framing") {
  SECTION("the engine.io-parser example: a string and a binary packet") {
    const std::string body("\x00\x06\xff\x34hello\x01\x04\xff\x04\x01\x02\x03", 16);
    std::vector<engineio::packet> p;
    REQUIRE_FALSE(engineio::parse_payload(body, engineio::payload_format::v3_binary, {}, p));
    REQUIRE(p.size() == 2);
    CHECK(p[0].data == "4hello");
    CHECK_FALSE(p[0].binary);
    CHECK(p[1].binary);
    CHECK(p[1].data == std::string("\x01\x02\x03"));
    CHECK(engineio::serialize_payload(p, engineio::payload_format::v3_binary) == body);
  }
  SECTION("a Socket.IO binary event and its attachment") {
    const std::string header =
        "451-[\"upload\",{\"to\":\"room:finance\",\"name\":\"q3.pdf\"},{\"_placeholder\":true,"
        "\"num\":0}]";
    REQUIRE(header.size() == 82);
    std::string body("\x00\x08\x02\xff", 4);
    body += header;
    body += std::string("\x01\x05\xff\x04\x01\x02\x03\x04", 8);
    poll_case c;
    c.target = "/socket.io/?EIO=3&transport=polling&sid=b1";
    c.headers = {{"Content-Type", "application/octet-stream"}};
    c.body = body;
    auto r = run(sio, c);
    REQUIRE_FALSE(r.request_error);
    REQUIRE(r.events.size() == 1);
    REQUIRE(r.events[0].attachments.size() == 1);
    CHECK(r.events[0].attachments[0].bytes == std::string("\x01\x02\x03\x04"));
    CHECK(r.events[0].attachments[0].sha256 ==
          "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a");
  }
  SECTION("bad framing gives precise errors") {
    std::vector<engineio::packet> p;
    CHECK(engineio::parse_payload(std::string("\x02\x01\xff\x34", 4),
                                  engineio::payload_format::v3_binary, {}, p)
              .code == errc::malformed_frame);
    CHECK(engineio::parse_payload(std::string("\x00\x0a\xff\x34", 4),
                                  engineio::payload_format::v3_binary, {}, p)
              .code == errc::malformed_frame);
    CHECK(engineio::parse_payload(std::string("\x00\x09\xff\x34", 4),
                                  engineio::payload_format::v3_binary, {}, p)
              .code == errc::truncated);
  }
}

TEST_CASE("socketio every framing parser survives every truncation") {
  const std::string v3 =
      v3_record("42[\"m\",\"\xf0\x9f\x98\x80 ok\"]", 15) + v3_record("2", 1) + "6:b4AQID";
  const std::string v3b("\x00\x06\xff\x34hello\x01\x04\xff\x04\x01\x02\x03", 16);
  struct input {
    std::string body;
    engineio::payload_format f;
    std::size_t packets;
  };
  for (const auto& in : {input{v4_body, engineio::payload_format::v4, 3},
                         input{v3, engineio::payload_format::v3_text, 3},
                         input{v3b, engineio::payload_format::v3_binary, 2}}) {
    std::vector<engineio::packet> whole;
    REQUIRE_FALSE(engineio::parse_payload(in.body, in.f, {}, whole));
    REQUIRE(whole.size() == in.packets);
    for (std::size_t cut = 0; cut < in.body.size(); ++cut) {
      std::vector<engineio::packet> p;
      const auto err = engineio::parse_payload(in.body.substr(0, cut), in.f, {}, p);
      // A prefix yields whole packets that match the originals (the v4 format cannot tell a
      // cut packet from a short one; length-prefixed v3 framings must report it).
      if (in.f != engineio::payload_format::v4) {
        bool at_boundary = err.code == errc::ok;
        if (!at_boundary)
          CHECK((err.code == errc::truncated || err.code == errc::malformed_frame ||
                 err.code == errc::malformed_base64));
      }
      for (std::size_t k = 0; k + 1 < p.size(); ++k) CHECK(p[k].data == whole[k].data);
    }
  }
}

TEST_CASE("socketio inbound poll: open packet, pings, and messages from others") {
  poll_case c;
  c.method = "GET";
  c.target = "/socket.io/?EIO=4&transport=polling&t=N8i0";
  c.body = "";
  c.response_body =
      "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[],\"pingInterval\":25000,"
      "\"pingTimeout\":20000,\"maxPayload\":1000000}\x1e"
      "2\x1e"
      "42/support,[\"message\",{\"from\":\"bob\",\"msg\":\"\xc2\xbfListo?\","
      "\"ts\":1688421337724}]";
  auto r = run(sio, c);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.direction == direction::inbound);
  CHECK(e.text == "\xc2\xbfListo?");
  CHECK(e.sender.id == "bob");
  CHECK(e.sender.source == identity_source::body);
  CHECK(e.timestamp == "2023-07-03T21:55:37.724Z");
  CHECK(e.attribute("namespace") == "/support");
  // The handshake's open packet names the session the rest of the body belongs to.
  CHECK(e.session_key == wire::short_digest("lv_VI97HAXpY6yYWAAAC"));
  CHECK(location_text(e.text_at) == "frame:2 json:/1/msg");

  // A POST is answered "ok": nothing inbound.
  poll_case post;
  post.target = sid_target;
  post.body = "3";
  post.response_body = "ok";
  CHECK(run(sio, post).events.empty());
}

TEST_CASE("socketio JSONP: d= request field and ___eio[n](...) response") {
  poll_case c;
  c.target = "/socket.io/?EIO=3&transport=polling&j=0&sid=jp";
  c.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  // d = 20:42["chat","caf\u00e9 ok"] with the payload form-encoded.
  c.body = "d=20%3A42%5B%22chat%22%2C%22caf%C3%A9%20ok%22%5D";
  c.response_body = "ok";
  auto r = run(sio, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].text == "caf\xc3\xa9 ok");
  CHECK(location_text(r.events[0].text_at) == "form:d frame:0 json:/1");

  poll_case g;
  g.method = "GET";
  g.target = "/socket.io/?EIO=3&transport=polling&j=1&sid=jp";
  g.response_body = "___eio[1](\"19:42[\\\"chat\\\",\\\"hi all\\\"]\");";
  auto rg = run(sio, g);
  REQUIRE_FALSE(rg.response_error);
  REQUIRE(rg.events.size() == 1);
  CHECK(rg.events[0].text == "hi all");
  CHECK(rg.events[0].direction == direction::inbound);

  // Rewrite through the JSONP response wrapper keeps it a valid call with the right length.
  std::string body = *g.response_body;
  REQUIRE_FALSE(engineio::rewrite(body, rg.events[0].text_at, "[redacted \xe2\x82\xac]"));
  poll_case again = g;
  again.response_body = body;
  auto r2 = run(sio, again);
  REQUIRE_FALSE(r2.response_error);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "[redacted \xe2\x82\xac]");

  // And through the form field of a request.
  std::string req = c.body;
  REQUIRE_FALSE(engineio::rewrite(req, r.events[0].text_at, "x\ny"));
  poll_case again2 = c;
  again2.body = req;
  auto r3 = run(sio, again2);
  REQUIRE_FALSE(r3.request_error);
  REQUIRE(r3.events.size() == 1);
  CHECK(r3.events[0].text == "x\ny");
}

TEST_CASE("socketio rewrite: new text, v3 lengths recomputed, other packets untouched") {
  const std::string packet = "42[\"chat message\",\"secret \xf0\x9f\x98\x80\"]";
  poll_case c;
  c.target = "/socket.io/?EIO=3&transport=polling&sid=rw";
  c.body =
      v3_record("2", 1) + v3_record(packet, polling::utf16_length(packet)) + v3_record("40", 2);
  auto r = run(sio, c);
  REQUIRE(r.events.size() == 1);
  std::string body = c.body;
  REQUIRE_FALSE(engineio::rewrite(body, r.events[0].text_at, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"));
  // Hand-computed: 42["chat message","😀😀"] is 16 + 3 + 4 + 2 = 25 UTF-16 units.
  CHECK(body == "1:225:42[\"chat message\",\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"]2:40");
  c.body = body;
  auto r2 = run(sio, c);
  REQUIRE_FALSE(r2.request_error);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "\xf0\x9f\x98\x80\xf0\x9f\x98\x80");

  SECTION("v4 with a namespace and ack id keeps the packet header") {
    std::string v4 =
        "3\x1e"
        "42/chat,17[\"say\",{\"text\":\"old words\"}]";
    poll_case p;
    p.target = sid_target;
    p.body = v4;
    auto rv = run(sio, p);
    REQUIRE(rv.events.size() == 1);
    CHECK(rv.events[0].attribute("ack_id") == "17");
    REQUIRE_FALSE(engineio::rewrite(v4, rv.events[0].text_at, "new"));
    CHECK(v4 ==
          "3\x1e"
          "42/chat,17[\"say\",{\"text\":\"new\"}]");
  }
  SECTION("a location that is not there leaves the body untouched") {
    std::string b = c.body;
    location bad;
    bad.path = {{layer_kind::frame, "7"}, {layer_kind::json, "/1"}};
    CHECK(engineio::rewrite(b, bad, "x").code == errc::malformed_frame);
    CHECK(b == c.body);
  }
}

TEST_CASE("socketio malformed bodies give errors and keep what was decoded") {
  poll_case c;
  c.target = sid_target;
  SECTION("bad base64 after a good message") {
    c.body =
        "42[\"m\",\"first\"]\x1e"
        "b!!!";
    auto r = run(sio, c);
    CHECK(r.request_error.code == errc::malformed_base64);
  }
  SECTION("broken JSON in an event") {
    c.body =
        "42[\"m\",\"first\"]\x1e"
        "42[\"m\",\"unterminated]";
    auto r = run(sio, c);
    CHECK(r.request_error.code == errc::truncated);  // the JSON ends inside a string
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].text == "first");
  }
  SECTION("an event without a name") {
    c.body = "42[17]";
    CHECK(run(sio, c).request_error.code == errc::malformed_frame);
  }
  SECTION("an unknown packet type") {
    c.body = "9hello";
    CHECK(run(sio, c).request_error.code == errc::malformed_frame);
  }
  SECTION("an empty packet between separators") {
    c.body =
        "42[\"m\",\"a\"]\x1e\x1e"
        "3";
    auto r = run(sio, c);
    CHECK(r.request_error.code == errc::malformed_frame);
    CHECK(r.events.size() == 1);
  }
  SECTION("more packets than the limit") {
    c.lim.max_parts = 4;
    c.body =
        "3\x1e"
        "3\x1e"
        "3\x1e"
        "3\x1e"
        "3";
    CHECK(run(sio, c).request_error.code == errc::too_many_parts);
  }
  SECTION("a binary event announcing more attachments than the limit") {
    c.lim.max_parts = 8;
    c.body = "4599-[\"upload\",{\"_placeholder\":true,\"num\":0}]";
    CHECK(run(sio, c).request_error.code == errc::too_many_parts);
  }
}

TEST_CASE("socketio rewrite in XHR2 binary framing recomputes the digit-byte length") {
  const std::string header = "42[\"chat message\",\"abc\"]";
  std::string body("\x00\x02\x04\xff", 4);  // 24 bytes
  body += header;
  body += std::string("\x01\x04\xff\x04\x01\x02\x03", 7);
  poll_case c;
  c.target = "/socket.io/?EIO=3&transport=polling&sid=b2";
  c.headers = {{"Content-Type", "application/octet-stream"}};
  c.body = body;
  auto r = run(sio, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 2);  // the message, and an unannounced binary message
  std::string rewritten = body;
  REQUIRE_FALSE(engineio::rewrite(rewritten, r.events[0].text_at, "\xc3\xa9t\xc3\xa9 long text"));
  // 42["chat message","été long text"] is 36 bytes: digits 3, 6.
  std::string want("\x00\x03\x06\xff", 4);
  want += "42[\"chat message\",\"\xc3\xa9t\xc3\xa9 long text\"]";
  want += std::string("\x01\x04\xff\x04\x01\x02\x03", 7);
  CHECK(rewritten == want);
  c.body = rewritten;
  auto r2 = run(sio, c);
  REQUIRE(r2.events.size() == 2);
  CHECK(r2.events[0].text == "\xc3\xa9t\xc3\xa9 long text");
  CHECK(r2.events[1].attachments[0].bytes == std::string("\x01\x02\x03"));
}

TEST_CASE("socketio: a user named in CONNECT auth is the learned sender of later events") {
  memory_session_store store;
  poll_case c;
  c.target = sid_target;
  c.sessions = &store;
  c.proxy_user = "proxy-user";
  c.body = "40{\"username\":\"dana\",\"token\":\"t0k\"}";
  auto r = run(sio, c);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].kind == event_kind::identity);
  CHECK(r.events[0].sender.id == "dana");
  c.body =
      "42[\"chat message\",\"hello\"]\x1e"
      "42[\"chat message\",{\"from\":\"x\",\"text\":\"y\"}]";
  auto r2 = run(sio, c);
  REQUIRE(r2.events.size() == 2);
  CHECK(r2.events[0].sender.id == "dana");
  CHECK(r2.events[0].sender.source == identity_source::learned);
  CHECK(r2.events[1].sender.id == "x");  // the event's own sender field wins
  CHECK(r2.events[1].sender.source == identity_source::body);
  // The token never appears in any event.
  for (const auto& e : r.events)
    CHECK(boost::json::serialize(to_json(e)).find("t0k") == std::string::npos);
}
