// Teams chatsvc / AMS decoder: classification from the request head alone, rewrite at the
// locations the decoder reports, and the shared REST helpers it relies on.

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "modules/registry.hpp"
#include "modules/rest/rest.hpp"
#include "modules/teams/teams.hpp"
#include "modules/wire.hpp"
#include "rest_support.hpp"

using namespace imcap::modules;
using rest_test::head;

TEST_CASE("teams: chat endpoints are claimed from the head alone", "[teams]") {
  const std::string conv = "19%3Aabc%40thread.v2";
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/conversations/" +
                        conv + "/messages"},
           {"POST",
            "https://teams.cloud.microsoft/api/chatsvc/emea/v1/users/ME/conversations/48%3Anotes/"
            "messages"},
           {"POST", "https://teams.live.com/api/chatsvc/consumer/v1/users/ME/conversations/" +
                        conv + "/messages"},
           {"POST", "https://amer.ng.msg.teams.microsoft.com/v1/users/ME/conversations/" + conv +
                        "/messages"},
           {"POST", "https://client-s.gateway.messenger.live.com/v1/users/ME/conversations/" +
                        conv + "/messages"},
           {"GET", "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/conversations/" +
                       conv + "/messages?pageSize=20"},
           {"PUT", "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/conversations/" +
                       conv + "/messages/1767607900000"},
           {"POST",
            "https://amer.ng.msg.teams.microsoft.com/v1/users/ME/endpoints/SELF/subscriptions/0/"
            "poll"},
           {"POST", "https://us-api.asm.skype.com/v1/objects"},
           {"PUT", "https://eu-api.asm.skype.com/v1/objects/0-weu-d16-abc/content/imgpsh"},
           {"PUT",
            "https://us-prod.asyncgw.teams.microsoft.com/v1/objects/0-wus-d1-abc/content/original"},
       }) {
    INFO(method << " " << url);
    CHECK(teams_chatsvc_decoder.classify(head(method, url)));
    const decoder* d = classify(head(method, url));
    REQUIRE(d != nullptr);
    CHECK(d->name == teams_chatsvc_decoder.name);
  }
}

TEST_CASE("teams: presence, properties, lists and downloads are not chat", "[teams]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "https://presence.teams.microsoft.com/v1/me/forceavailability/"},
           {"POST", "https://presence.teams.microsoft.com/v1/presence/getpresence/"},
           {"GET", "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/properties"},
           {"GET",
            "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/"
            "conversations?view=msnp24Equivalent"},
           {"PUT",
            "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/conversations/"
            "19%3Aabc%40thread.v2/properties?name=consumptionhorizon"},
           {"DELETE",
            "https://teams.microsoft.com/api/chatsvc/amer/v1/users/ME/conversations/"
            "19%3Aabc%40thread.v2/messages/1767607900000"},
           {"GET", "https://teams.microsoft.com/api/mt/emea/beta/users/tenants"},
           {"POST", "https://teams.microsoft.com/trap/tokens"},
           {"GET", "https://eu-api.asm.skype.com/v1/objects/0-weu-d16-abc/views/imgo"},
           {"POST",
            "https://example.com/api/chatsvc/amer/v1/users/ME/conversations/19%3Aabc%40thread.v2/"
            "messages"},
           {"POST",
            "https://teams.microsoft.com.evil.example/api/chatsvc/amer/v1/users/ME/conversations/x/"
            "messages"},
       }) {
    INFO(method << " " << url);
    CHECK_FALSE(teams_chatsvc_decoder.classify(head(method, url)));
    CHECK(classify(head(method, url)) == nullptr);
  }
}

TEST_CASE("teams: rewriting the content changes only the text", "[teams]") {
  auto f = rest_test::load_fixture("teams", "send-richtext-file-mention");
  auto before = rest_test::decode_with(teams_chatsvc_decoder, f.request);
  REQUIRE(before.size() == 1);
  const std::string new_html = "<p>[entfernt: Richtlinie]</p>";
  http_request changed = f.request;
  REQUIRE(!teams_chatsvc_decoder.rewrite(changed.body, before[0].text_at, new_html));
  auto after = rest_test::decode_with(teams_chatsvc_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[entfernt: Richtlinie]");
  CHECK(after[0].html == new_html);
  CHECK(rest_test::without(after[0], {"text", "html"}) ==
        rest_test::without(before[0], {"text", "html"}));
}

TEST_CASE("teams: a file reference inside the properties.files string can be rewritten",
          "[teams]") {
  auto f = rest_test::load_fixture("teams", "send-richtext-file-mention");
  auto before = rest_test::decode_with(teams_chatsvc_decoder, f.request);
  REQUIRE(before.size() == 1);
  REQUIRE(before[0].attachments.size() == 1);
  const location& at = before[0].attachments[0].at;
  REQUIRE(at.path.size() == 2);
  CHECK(at.path[0].key == "/properties/files");
  CHECK(at.path[1].key == "/0/objectUrl");
  http_request changed = f.request;
  REQUIRE(!teams_chatsvc_decoder.rewrite(changed.body, at, "https://blocked.invalid/file"));
  auto after = rest_test::decode_with(teams_chatsvc_decoder, changed);
  REQUIRE(after.size() == 1);
  REQUIRE(after[0].attachments.size() == 1);
  CHECK(after[0].attachments[0].ref == "https://blocked.invalid/file");
  CHECK(after[0].attachments[0].name == "Q3-Zahlen.xlsx");
  CHECK(after[0].text == before[0].text);
}

TEST_CASE("teams: inbound poll content is rewritable in the response body", "[teams]") {
  auto f = rest_test::load_fixture("teams", "poll-eventmessages");
  auto before = rest_test::decode_with(teams_chatsvc_decoder, f.request, &f.response);
  REQUIRE(before.size() == 1);
  http_response changed = f.response;
  REQUIRE(!teams_chatsvc_decoder.rewrite(changed.body, before[0].text_at, "<p>***</p>"));
  auto after = rest_test::decode_with(teams_chatsvc_decoder, f.request, &changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "***");
  CHECK(rest_test::without(after[0], {"text", "html"}) ==
        rest_test::without(before[0], {"text", "html"}));
}

TEST_CASE("teams: a rewrite at a location that is not there fails and keeps the body", "[teams]") {
  auto f = rest_test::load_fixture("teams", "send-richtext-file-mention");
  std::string body = f.request.body;
  location nowhere{{{layer_kind::json, "/no/such/member"}}};
  decode_error e = teams_chatsvc_decoder.rewrite(body, nowhere, "x");
  CHECK(e.code == errc::malformed_json);
  CHECK(body == f.request.body);
  location not_string{{{layer_kind::json, "/state"}}};
  CHECK(teams_chatsvc_decoder.rewrite(body, not_string, "x").code == errc::malformed_json);
  CHECK(body == f.request.body);
  CHECK(teams_chatsvc_decoder.rewrite(body, location{}, "x"));
  CHECK(body == f.request.body);
}

TEST_CASE("teams: an AMS upload's bytes can be replaced", "[teams]") {
  http_request req{head("PUT", "https://eu-api.asm.skype.com/v1/objects/0-weu-1/content/imgpsh",
                        {{"Content-Type", "image/png"}}),
                   std::string("\x89PNG-original", 13)};
  auto before = rest_test::decode_with(teams_chatsvc_decoder, req);
  REQUIRE(before.size() == 1);
  REQUIRE(before[0].attachments.size() == 1);
  CHECK(before[0].kind == event_kind::upload);
  CHECK(before[0].attachments[0].sha256 == sha256_hex(req.body));
  http_request changed = req;
  REQUIRE(!teams_chatsvc_decoder.rewrite(changed.body, before[0].attachments[0].at, "blank"));
  auto after = rest_test::decode_with(teams_chatsvc_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].attachments[0].sha256 == sha256_hex("blank"));
  CHECK(after[0].attachments[0].size == 5u);
}

TEST_CASE("rest helpers: the paragraph fast path gives libxml2's text", "[teams][rest]") {
  // html_to_text walks <p> sequences by hand and sends the rest to libxml2. Whatever it takes,
  // the text must be what libxml2 gives: hand-picked edge cases, then 3000 generated documents
  // mixing paragraphs, inline tags, <br>, entities, UTF-8, white space and shapes it must hand
  // over (nested <p>, stray text, unknown entities, comments, bad UTF-8).
  const std::vector<std::string> cases = {
      "<p>a</p>",
      "<p>a &amp; b</p><p>c&nbsp;d</p>",
      "<p> lead and trail </p>",
      "<p>x<br>y<br/>z</p>",
      "<p>a <b>bold</b> <i>it</i></p>",
      "<p>a<b> </b>b</p>",
      "<p><span itemtype=\"http://schema.skype.com/Mention\" itemscope=\"\" itemid=\"0\">Bob</span>"
      " bitte</p>",
      "<p>f&uuml;r</p>",
      "<p>a</p> <p>b</p>",
      "<p>a</p>tail",
      "<p>a<p>b</p></p>",
      "<p><a>x<a>y</a></a></p>",
      "<p>a &lt;b&gt; &quot;c&quot;</p>",
      "<p>&amp</p>",
      "<p>\xff</p>",
      "<p>\xc3</p>",
      "<p>\x01</p>",
      "<p>a<!-- c -->b</p>",
      "<P>up</P>",
      "<p class=x>unquoted</p>",
      "<p></p>",
      "<p> </p>",
      "<p>a</b></p>",
      "<p><b>a</p>",
      "<p>a\r\nb\tc</p>",
      "<p>\xef\xbf\xbe</p>",
      "<p>\xed\xa0\x80</p>",
      "<p>a<br></br>b</p>",
      "<p>a<code>x  y</code></p>",
      "<p>x</p><p>y</p><p>z</p>",
      "<p>&#65;</p>",
      "<p title='a>b'>q</p>",
      "<p>1 < 2</p>",
      "<p>2 > 1</p>"};
  for (const auto& h : cases) {
    INFO("html: " << h);
    CHECK(rest::html_to_text(h) == rest::html_to_text_reference(h));
  }
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"word",
                                           " ",
                                           "  ",
                                           "\n",
                                           "\xc3\xbc",
                                           "\xe4\xbc\x9a",
                                           "\xf0\x9f\x98\x80",
                                           "&amp;",
                                           "&nbsp;",
                                           "&lt;",
                                           "&gt;",
                                           "&quot;",
                                           "<br>",
                                           "<br/>",
                                           "<b>",
                                           "</b>",
                                           "<i>",
                                           "</i>",
                                           "<span x=\"1\">",
                                           "</span>",
                                           "<a href=\"https://e.example/\">",
                                           "</a>",
                                           "<strong>",
                                           "</strong>",
                                           "<em>",
                                           "</em>",
                                           "<u>",
                                           "</u>",
                                           "<code>",
                                           "</code>",
                                           "</p><p>",
                                           "&euro;",
                                           "<div>",
                                           "</div>",
                                           "x",
                                           "\t"};
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1), len(1, 14);
  std::size_t fast_shape = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string h = "<p>";
    for (std::size_t k = len(rng); k > 0; --k) h += pieces[pick(rng)];
    h += "</p>";
    INFO("html: " << h);
    const std::string got = rest::html_to_text(h);
    CHECK(got == rest::html_to_text_reference(h));
    if (h.find("div") == std::string::npos && h.find("&euro;") == std::string::npos) ++fast_shape;
  }
  CHECK(fast_shape > 1000);  // the generator does reach the fast path's shapes
}

TEST_CASE("rest helpers: HTML to text", "[teams][rest]") {
  CHECK(rest::html_to_text("<p>a &amp; b</p><p>c&nbsp;d</p>") == "a & b\nc d");
  CHECK(rest::html_to_text("line<br>next<br/>last") == "line\nnext\nlast");
  CHECK(rest::html_to_text("<ul><li>one</li><li>two</li></ul>") == "one\ntwo");
  CHECK(rest::html_to_text("<div>  lots   of\n space </div>") == "lots of space");
  CHECK(rest::html_to_text("<pre>keep  two\n lines</pre>") == "keep  two\n lines");
  CHECK(rest::html_to_text("<p>x<script>alert(1)</script>y</p>") == "xy");
  CHECK(rest::html_to_text("plain text, no tags") == "plain text, no tags");
  CHECK(rest::html_to_text("<p>unclosed <b>bold") == "unclosed bold");
  CHECK(rest::html_to_text("") == "");
  CHECK(rest::html_to_text("\xe4\xbc\x9a\xe8\xad\xb0 &#x1F600;") ==
        "\xe4\xbc\x9a\xe8\xad\xb0 \xf0\x9f\x98\x80");
  // Text nested past libxml2's default depth cap (256) must neither crash nor vanish.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<div>";
  deep += "secret";
  CHECK(rest::html_to_text(deep) == "secret");
}

TEST_CASE("rest helpers: times and keys", "[teams][rest]") {
  CHECK(wire::normalize_rfc3339("2026-01-05T10:00:00.000Z") == "2026-01-05T10:00:00.000Z");
  CHECK(wire::normalize_rfc3339("2017-07-11T17:27:07.299000+00:00") ==
        "2017-07-11T17:27:07.299000Z");
  CHECK(wire::normalize_rfc3339("2026-01-05T00:30:00+02:00") == "2026-01-04T22:30:00Z");
  CHECK(wire::normalize_rfc3339("2026-02-30T00:00:00Z").empty());
  CHECK(wire::normalize_rfc3339("yesterday").empty());
  CHECK(wire::rfc3339_from_decimal_seconds("1503435956.000247") == "2017-08-22T21:05:56.000247Z");
  CHECK(wire::rfc3339_from_decimal_seconds("0") == "1970-01-01T00:00:00Z");
  CHECK(wire::rfc3339_from_decimal_seconds("-5").empty());
  CHECK(wire::rfc3339_from_decimal_seconds("12x").empty());
  CHECK(wire::short_digest("secret").size() == 16);
  CHECK(wire::short_digest("secret") != wire::short_digest("secret2"));
  CHECK(wire::short_digest("").empty());
  header_fields h;
  h.add("Authorization", "Bearer abc.def");
  h.add("Cookie", "a=1; d=xoxd-1; e=2");
  CHECK(wire::authorization_secret(h) == "abc.def");
  CHECK(wire::cookie(h, "d") == "xoxd-1");
  CHECK(!wire::cookie(h, "zz"));
}
