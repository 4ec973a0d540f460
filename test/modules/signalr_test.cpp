#include <catch2/catch.hpp>

#include "modules/poll_test_util.hpp"
#include "modules/polling/common.hpp"
#include "modules/signalr/signalr.hpp"
#include "modules/wire.hpp"

using namespace imcap::modules;
using imcap::modules::test::classifies;
using imcap::modules::test::location_text;
using imcap::modules::test::poll_case;
using imcap::modules::test::run;

namespace {

const decoder& classic = signalr::classic_decoder;
const decoder& core = signalr::core_decoder;
const std::string send_target =
    "/signalr/send?transport=longPolling&clientProtocol=1.5&connectionToken=AQAAANCMnd8BFdERjHoAwE"
    "%2FCl%2BsBAAAA&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D";
// The reference body: jQuery's form encoding with '+' for spaces.
const std::string send_body =
    "data=%7B%22H%22%3A%22chathub%22%2C%22M%22%3A%22Send%22%2C%22A%22%3A%5B%22alice%22%2C%22"
    "Quarterly+numbers+attached%3F%22%5D%2C%22I%22%3A0%7D";

}  // namespace

TEST_CASE("signalr classification: classic by its query keys, Core by its client header") {
  CHECK(classifies(classic, "POST", send_target));
  CHECK(classifies(classic, "GET",
                   "/signalr/poll?transport=longPolling&connectionToken=abc&messageId=d-1"));
  CHECK(classifies(classic, "GET", "/chat/connect?transport=longPolling&connectionToken=abc"));
  CHECK_FALSE(classifies(classic, "POST", "/signalr/send?transport=longPolling"));
  CHECK_FALSE(classifies(classic, "POST", "/signalr/negotiate?connectionToken=abc&transport=x"));
  CHECK_FALSE(classifies(classic, "POST", "/api/send?connectionToken=abc"));

  CHECK(
      classifies(core, "POST", "/chathub?id=05265228-3b8c",
                 {{"X-SignalR-User-Agent", "Microsoft SignalR/8.0 (8.0.0; Unknown OS; Browser)"}}));
  CHECK(classifies(core, "POST", "/chathub/negotiate?negotiateVersion=1"));
  CHECK_FALSE(classifies(core, "POST", "/chathub?id=05265228-3b8c"));  // no client header
  CHECK_FALSE(classifies(core, "GET", "/items?id=7", {{"Accept", "application/json"}}));
  CHECK_FALSE(classifies(core, "POST", "/chathub", {{"X-SignalR-User-Agent", "Microsoft"}}));
}

TEST_CASE("signalr classic /send: hub, method, args; '+' decoded as space") {
  poll_case c;
  c.target = send_target;
  c.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  c.body = send_body;
  c.response_body = "{\"I\":\"0\"}";
  c.proxy_user = "CORP\\alice";
  auto r = run(classic, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.text == "Quarterly numbers attached?");
  CHECK(location_text(e.text_at) == "form:data json:/A/1");
  CHECK(e.attribute("hub") == "chathub");
  CHECK(e.attribute("method") == "Send");
  CHECK(e.client_msg_id == "0");
  CHECK(e.sender.id == "CORP\\alice");
  CHECK(e.sender.source == identity_source::proxy);
  CHECK(e.sender.display_name == "alice");
  CHECK(e.session_key == wire::short_digest("AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA"));

  SECTION("rewrite keeps a valid form and JSON") {
    std::string body = c.body;
    REQUIRE_FALSE(classic.rewrite(body, e.text_at, "[removed by policy] \xc3\xa9"));
    poll_case again = c;
    again.body = body;
    auto r2 = run(classic, again);
    REQUIRE_FALSE(r2.request_error);
    REQUIRE(r2.events.size() == 1);
    CHECK(r2.events[0].text == "[removed by policy] \xc3\xa9");
    CHECK(r2.events[0].attribute("method") == "Send");
    CHECK(r2.events[0].client_msg_id == "0");
  }
}

TEST_CASE("signalr classic poll response: messages from others") {
  poll_case c;
  c.method = "POST";
  c.target = "/signalr/poll?transport=longPolling&connectionToken=tok&messageId=d-1";
  c.body = "messageId=d-5C1FA87C-B%2C0%7CC%2C1";
  c.response_body =
      "{\"C\":\"d-5C1FA87C-B,0|C,2\",\"M\":[{\"H\":\"ChatHub\",\"M\":\"broadcastMessage\","
      "\"A\":[\"bob\",\"Gr\\u00fc\\u00dfe aus M\\u00fcnchen\"]},{\"H\":\"ChatHub\","
      "\"M\":\"typing\",\"A\":[]}]}";
  auto r = run(classic, c);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.direction == direction::inbound);
  CHECK(e.text ==
        "Gr\xc3\xbc\xc3\x9f"
        "e aus M\xc3\xbcnchen");
  CHECK(e.sender.id == "bob");
  CHECK(e.sender.source == identity_source::body);
  CHECK(location_text(e.text_at) == "json:/M/0/A/1");
  CHECK(e.attribute("method") == "broadcastMessage");

  std::string body = *c.response_body;
  REQUIRE_FALSE(classic.rewrite(body, e.text_at, "***"));
  poll_case again = c;
  again.response_body = body;
  auto r2 = run(classic, again);
  REQUIRE(r2.events.size() == 1);
  CHECK(r2.events[0].text == "***");
}

TEST_CASE("signalr classic malformed bodies") {
  poll_case c;
  c.target = send_target;
  SECTION("no data field") {
    c.body = "foo=bar";
    CHECK(run(classic, c).request_error.code == errc::malformed_form);
  }
  SECTION("bad percent escape") {
    c.body = "data=%7B%2";
    CHECK(run(classic, c).request_error.code == errc::malformed_form);
  }
  SECTION("JSON that does not parse") {
    c.body = "data=%7B%22H%22%3A";
    CHECK(run(classic, c).request_error);
  }
  SECTION("A is not an array") {
    c.body = "data=%7B%22H%22%3A%22h%22%2C%22M%22%3A%22m%22%2C%22A%22%3A5%7D";
    CHECK(run(classic, c).request_error.code == errc::malformed_json);
  }
  SECTION("poll response M not an array") {
    c.target = "/signalr/poll?transport=longPolling&connectionToken=t";
    c.body = "";
    c.response_body = "{\"C\":\"x\",\"M\":{}}";
    CHECK(run(classic, c).response_error.code == errc::malformed_json);
  }
}

TEST_CASE("signalr core: handshake then invocations, several records per body") {
  poll_case c;
  c.target = "/chathub?id=05265228-1a2b";
  c.headers = {{"X-SignalR-User-Agent", "Microsoft SignalR/8.0"},
               {"Content-Type", "text/plain;charset=UTF-8"}};
  c.body =
      "{\"protocol\":\"json\",\"version\":1}\x1e"
      "{\"type\":1,\"invocationId\":\"3\",\"target\":\"SendMessage\",\"arguments\":[\"alice\","
      "\"Quarterly numbers attached?\"]}\x1e"
      "{\"type\":6}\x1e"
      "{\"type\":1,\"target\":\"SendToRoom\",\"arguments\":[{\"room\":\"ops\",\"text\":"
      "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}]}\x1e";
  auto r = run(core, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0].text == "Quarterly numbers attached?");
  CHECK(location_text(r.events[0].text_at) == "frame:1 json:/arguments/1");
  CHECK(r.events[0].client_msg_id == "3");
  CHECK(r.events[0].attribute("target") == "SendMessage");
  CHECK(r.events[0].session_key == wire::short_digest("05265228-1a2b"));
  CHECK(r.events[1].text == "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
  CHECK(r.events[1].conversation_id == "ops");
  CHECK(location_text(r.events[1].text_at) == "frame:3 json:/arguments/0/text");

  SECTION("rewrite one record, the others byte for byte") {
    std::string body = c.body;
    REQUIRE_FALSE(core.rewrite(body, r.events[1].text_at, "redacted"));
    std::vector<std::string_view> before, after;
    REQUIRE_FALSE(signalr::split_records(c.body, {}, before));
    REQUIRE_FALSE(signalr::split_records(body, {}, after));
    REQUIRE(after.size() == 4);
    for (std::size_t i = 0; i < 3; ++i) CHECK(after[i] == before[i]);
    poll_case again = c;
    again.body = body;
    auto r2 = run(core, again);
    REQUIRE(r2.events.size() == 2);
    CHECK(r2.events[1].text == "redacted");
  }
}

TEST_CASE("signalr core: inbound GET and what is not read") {
  poll_case c;
  c.method = "GET";
  c.target = "/chathub?id=tok&_=1700000000000";
  c.headers = {{"X-SignalR-User-Agent", "Microsoft SignalR/8.0"}};
  c.response_body =
      "{}\x1e{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[\"bob\",\"hi\"]}"
      "\x1e{\"type\":6}\x1e";
  auto r = run(core, c);
  REQUIRE_FALSE(r.response_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].direction == direction::inbound);
  CHECK(r.events[0].sender.id == "bob");
  CHECK(r.events[0].text == "hi");

  SECTION("negotiate and MessagePack carry no chat text") {
    poll_case n;
    n.target = "/chathub/negotiate?negotiateVersion=1";
    n.response_body = "{\"connectionToken\":\"x\",\"availableTransports\":[]}";
    CHECK(run(core, n).events.empty());
    poll_case m = c;
    m.method = "POST";
    m.headers.emplace_back("Content-Type", "application/octet-stream");
    m.body = std::string("\x14\x95\x01\x80\xa1", 5);
    m.response_body.reset();
    auto rm = run(core, m);
    CHECK_FALSE(rm.request_error);
    CHECK(rm.events.empty());
  }
}

TEST_CASE("signalr core malformed bodies keep the records before the fault") {
  poll_case c;
  c.target = "/chathub?id=tok";
  c.headers = {{"X-SignalR-User-Agent", "Microsoft SignalR/8.0"}};
  SECTION("missing final separator") {
    c.body = "{\"type\":1,\"target\":\"S\",\"arguments\":[\"a\"]}\x1e{\"type\":1,\"target\":\"S\"";
    auto r = run(core, c);
    CHECK(r.request_error.code == errc::truncated);
    CHECK(r.events.size() == 1);
  }
  SECTION("record not JSON") {
    c.body = "{\"type\":1,\"target\":\"S\",\"arguments\":[\"a\"]}\x1enot json\x1e";
    auto r = run(core, c);
    CHECK(r.request_error.code == errc::malformed_json);
    CHECK(r.events.size() == 1);
  }
  SECTION("invocation without arguments") {
    c.body = "{\"type\":1,\"target\":\"S\"}\x1e";
    CHECK(run(core, c).request_error.code == errc::malformed_json);
  }
  SECTION("too many records") {
    c.lim.max_parts = 3;
    c.body = "{\"type\":6}\x1e{\"type\":6}\x1e{\"type\":6}\x1e{\"type\":6}\x1e";
    CHECK(run(core, c).request_error.code == errc::too_many_parts);
  }
}

TEST_CASE("signalr core record splitter at every cut") {
  const std::string body =
      "{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":1,\"target\":\"S\",\"arguments\":[\"x\"]}"
      "\x1e";
  std::vector<std::string_view> whole;
  REQUIRE_FALSE(signalr::split_records(body, {}, whole));
  REQUIRE(whole.size() == 2);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    std::vector<std::string_view> p;
    const auto err = signalr::split_records(std::string_view(body).substr(0, cut), {}, p);
    const bool boundary = cut == 0 || body[cut - 1] == '\x1e';
    CHECK(static_cast<bool>(err) == !boundary);
    if (err) CHECK(err.code == errc::truncated);
    for (std::size_t k = 0; k < p.size(); ++k) CHECK(p[k] == whole[k]);
  }
}
