// Webex decoder: classification from the request head alone and rewrites that leave no
// representation (text, markdown, html) holding the old content.

#include <catch2/catch.hpp>

#include "modules/registry.hpp"
#include "modules/webex/webex.hpp"
#include "rest_support.hpp"

using namespace imcap::modules;
using rest_test::head;

TEST_CASE("webex: message endpoints are claimed", "[webex]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://webexapis.com/v1/messages"},
           {"POST", "https://api.ciscospark.com/v1/messages"},
           {"PUT", "https://webexapis.com/v1/messages/Y2lzY29zcGFyazovL3VzL01FU1NBR0UvMQ"},
           {"GET", "https://webexapis.com/v1/messages?roomId=R&max=50"},
       }) {
    INFO(method << " " << url);
    CHECK(webex_decoder.classify(head(method, url)));
    const decoder* d = classify(head(method, url));
    REQUIRE(d != nullptr);
    CHECK(d->name == webex_decoder.name);
  }
}

TEST_CASE("webex: rooms, people, memberships and the web app are not claimed", "[webex]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "https://webexapis.com/v1/people/me"},
           {"GET", "https://webexapis.com/v1/rooms"},
           {"POST", "https://webexapis.com/v1/memberships"},
           {"DELETE", "https://webexapis.com/v1/messages/abc"},
           {"GET", "https://webexapis.com/v1/messages/direct?personEmail=a@b"},
           {"POST", "https://conv-a.wbx2.com/conversation/api/v1/activities"},
           {"POST", "https://example.com/v1/messages"},
       }) {
    INFO(method << " " << url);
    CHECK_FALSE(webex_decoder.classify(head(method, url)));
    CHECK(classify(head(method, url)) == nullptr);
  }
}

TEST_CASE("webex: a rewrite replaces text, markdown and html together", "[webex]") {
  http_request req{
      head("POST", "https://webexapis.com/v1/messages",
           {{"Content-Type", "application/json"}, {"Authorization", "Bearer t"}}),
      R"({"roomId":"R","text":"secret","markdown":"**secret**","html":"<b>secret</b>"})"};
  auto before = rest_test::decode_with(webex_decoder, req);
  REQUIRE(before.size() == 1);
  CHECK(before[0].text == "secret");
  http_request changed = req;
  REQUIRE(!webex_decoder.rewrite(changed.body, before[0].text_at, "[removed]"));
  CHECK(changed.body.find("secret") == std::string::npos);
  auto after = rest_test::decode_with(webex_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[removed]");
  CHECK(after[0].html == "[removed]");
  CHECK(!after[0].attribute("markdown"));
  CHECK(rest_test::without(after[0], {"text", "html", "attributes"}) ==
        rest_test::without(before[0], {"text", "html", "attributes"}));
}

TEST_CASE("webex: a multipart rewrite keeps the file part", "[webex]") {
  const std::string body =
      "--wb\r\nContent-Disposition: form-data; name=\"roomId\"\r\n\r\nR\r\n"
      "--wb\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nsecret\r\n"
      "--wb\r\nContent-Disposition: form-data; name=\"markdown\"\r\n\r\n*secret*\r\n"
      "--wb\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
      "Content-Type: image/png\r\n\r\nPNGDATA\r\n--wb--\r\n";
  http_request req{head("POST", "https://webexapis.com/v1/messages",
                        {{"Content-Type", "multipart/form-data; boundary=wb"}}),
                   body};
  auto before = rest_test::decode_with(webex_decoder, req);
  REQUIRE(before.size() == 1);
  http_request changed = req;
  REQUIRE(!webex_decoder.rewrite(changed.body, before[0].text_at, "[x]"));
  CHECK(changed.body.find("secret") == std::string::npos);
  auto after = rest_test::decode_with(webex_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[x]");
  REQUIRE(after[0].attachments.size() == 1);
  CHECK(after[0].attachments[0].sha256 == before[0].attachments[0].sha256);
  CHECK(after[0].attachments[0].sha256 == sha256_hex("PNGDATA"));
}
