#include <catch2/catch.hpp>

#include "modules/bosh/bosh.hpp"
#include "modules/poll_test_util.hpp"
#include "modules/polling/common.hpp"
#include "modules/session.hpp"

using namespace imcap::modules;
using imcap::modules::test::classifies;
using imcap::modules::test::location_text;
using imcap::modules::test::poll_case;
using imcap::modules::test::run;

namespace {
const decoder& bd = bosh::bosh_decoder;
const decoder& up = bosh::upload_decoder;
const std::string ns = "http://jabber.org/protocol/httpbind";
}  // namespace

TEST_CASE("bosh classification") {
  CHECK(classifies(bd, "POST", "/http-bind"));
  CHECK(classifies(bd, "POST", "/http-bind/"));
  CHECK(classifies(bd, "POST", "/xmpp/bosh"));
  CHECK_FALSE(classifies(bd, "GET", "/http-bind"));
  CHECK_FALSE(classifies(bd, "POST", "/http-binder"));
  CHECK_FALSE(classifies(bd, "POST", "/api/messages"));

  CHECK(classifies(up, "PUT", "/upload/4a771ac1/q3.pdf"));
  CHECK(classifies(up, "PUT", "/file_share/0b1c-22/report.docx"));
  CHECK(classifies(up, "PUT", "/httpfileupload/0b1c/x.png"));
  CHECK(classifies(up, "PUT", "https://upload.example.com/a/b/c.txt"));
  CHECK_FALSE(classifies(up, "POST", "/upload/4a771ac1/q3.pdf"));
  CHECK_FALSE(classifies(up, "PUT", "/upload/q3.pdf"));  // no slot id segment
  CHECK_FALSE(classifies(up, "PUT", "/api/items/7"));
}

TEST_CASE("bosh rewrite replaces one message body and keeps every other stanza") {
  poll_case c;
  c.target = "/http-bind";
  c.body = "<body rid='5' sid='S1' xmlns='" + ns +
           "'><message to='a@x' type='chat' id='1'><body>first</body></message>"
           "<presence/><message to='b@x' type='chat' id='2'><body>secret &lt;plan&gt;</body>"
           "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
           "xmlns='http://www.w3.org/1999/xhtml'><p>secret</p></body></html></message></body>";
  auto r = run(bd, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[1].text == "secret <plan>");
  CHECK(r.events[1].html == "<p>secret</p>");
  CHECK(location_text(r.events[1].text_at) == "xml:/body/message[2]/body");
  std::string body = c.body;
  REQUIRE_FALSE(bd.rewrite(body, r.events[1].text_at, "[blocked] & <gone>"));
  poll_case again = c;
  again.body = body;
  auto r2 = run(bd, again);
  REQUIRE_FALSE(r2.request_error);
  REQUIRE(r2.events.size() == 2);
  CHECK(r2.events[0].text == "first");
  CHECK(r2.events[1].text == "[blocked] & <gone>");
  CHECK(r2.events[1].html.empty());                    // the XHTML-IM copy of the old words is gone
  CHECK(body.find("rid=\"5\"") != std::string::npos);  // the wrapper keeps rid and sid
  CHECK(body.find("sid=\"S1\"") != std::string::npos);
  CHECK(body.find("<presence") != std::string::npos);

  location bad;
  bad.path = {{layer_kind::xml, "/body/message[3]/body"}};
  std::string untouched = c.body;
  CHECK(bd.rewrite(untouched, bad, "x").code == errc::malformed_xml);
  CHECK(untouched == c.body);
}

TEST_CASE("bosh: stanzas in other namespaces are not messages; errors are values") {
  poll_case c;
  c.target = "/http-bind";
  SECTION("jabber:server message inside is ignored") {
    c.body = "<body rid='1' sid='S' xmlns='" + ns +
             "'><message xmlns='jabber:server' to='a@x'><body>x</body></message></body>";
    auto r = run(bd, c);
    CHECK_FALSE(r.request_error);
    CHECK(r.events.empty());
  }
  SECTION("not a httpbind body") {
    c.body = "<stream xmlns='jabber:client'/>";
    CHECK(run(bd, c).request_error.code == errc::malformed_frame);
  }
  SECTION("DOCTYPE refused") {
    c.body = "<!DOCTYPE body [<!ENTITY a 'aaaa'>]><body xmlns='" + ns + "'/>";
    CHECK(run(bd, c).request_error.code == errc::malformed_xml);
  }
  SECTION("empty request") {
    c.body = "";
    CHECK(run(bd, c).request_error.code == errc::truncated);
  }
  SECTION("too many stanzas") {
    c.lim.max_parts = 2;
    c.body = "<body xmlns='" + ns + "'><presence/><presence/><presence/></body>";
    CHECK(run(bd, c).request_error.code == errc::too_many_parts);
  }
}

TEST_CASE("xmpp-upload: a PUT to an unknown slot is still scanned") {
  memory_session_store store;
  poll_case c;
  c.method = "PUT";
  c.target = "/upload/abc/notes.txt";
  c.headers = {{"Host", "upload.example.org"}, {"Content-Type", "text/plain"}};
  c.body = "hello";
  c.sessions = &store;
  c.proxy_user = "bob";
  auto r = run(up, c);
  REQUIRE_FALSE(r.request_error);
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].kind == event_kind::upload);
  CHECK(r.events[0].attribute("slot_known") == "false");
  CHECK(r.events[0].sender.id == "bob");
  REQUIRE(r.events[0].attachments.size() == 1);
  CHECK(r.events[0].attachments[0].name == "notes.txt");
  CHECK(r.events[0].attachments[0].bytes == "hello");
  CHECK(r.events[0].attachments[0].ref == "https://upload.example.org/upload/abc/notes.txt");
}
