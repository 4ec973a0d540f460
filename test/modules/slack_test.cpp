// Slack Web API decoder: classification from the request head alone and rewrite at the
// locations the decoder reports (form, JSON, multipart blocks, history responses, uploads).

#include <catch2/catch.hpp>

#include "modules/registry.hpp"
#include "modules/slack/slack.hpp"
#include "rest_support.hpp"

using namespace imcap::modules;
using rest_test::head;

TEST_CASE("slack: message, upload and history methods are claimed", "[slack]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://slack.com/api/chat.postMessage"},
           {"POST", "https://acme.slack.com/api/chat.postMessage?_x_id=abc&slack_route=T1"},
           {"POST", "https://acme.enterprise.slack.com/api/chat.update"},
           {"POST", "https://slack.com/api/chat.postEphemeral"},
           {"POST", "https://slack.com/api/chat.scheduleMessage"},
           {"POST", "https://slack.com/api/files.getUploadURLExternal"},
           {"GET", "https://slack.com/api/files.getUploadURLExternal?filename=a&length=1"},
           {"POST", "https://files.slack.com/upload/v1/CwABAAAAXAoAAZnKg6"},
           {"POST", "https://slack.com/api/files.completeUploadExternal"},
           {"POST", "https://slack.com/api/files.upload"},
           {"GET", "https://slack.com/api/conversations.history?channel=C1"},
           {"POST", "https://acme.slack.com/api/conversations.replies"},
           {"POST", "https://slack.com/api/auth.test"},
       }) {
    INFO(method << " " << url);
    CHECK(slack_web_decoder.classify(head(method, url)));
    const decoder* d = classify(head(method, url));
    REQUIRE(d != nullptr);
    CHECK(d->name == slack_web_decoder.name);
  }
}

TEST_CASE("slack: other methods and hosts are not chat", "[slack]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://slack.com/api/users.list"},
           {"POST", "https://acme.slack.com/api/client.counts"},
           {"POST", "https://acme.slack.com/api/conversations.list"},
           {"POST", "https://acme.slack.com/api/users.prefs.get"},
           {"GET", "https://slack.com/api/chat.postMessage"},  // a send is always a POST
           {"GET", "https://files.slack.com/files-pri/T1-F1/q3.pdf"},
           {"POST", "https://files.slack.com/files-pri/T1-F1/q3.pdf"},
           {"GET", "https://app.slack.com/client/T1/C1"},
           {"POST", "https://slack.com/apis/chat.postMessage"},
           {"POST", "https://slack.com.evil.example/api/chat.postMessage"},
           {"POST", "https://notslack.com/api/chat.postMessage"},
       }) {
    INFO(method << " " << url);
    CHECK_FALSE(slack_web_decoder.classify(head(method, url)));
    CHECK(classify(head(method, url)) == nullptr);
  }
}

namespace {

// Rewrites text_at of the only event of `req`, decodes again and checks the new text and that
// nothing else changed.
void check_text_rewrite(const http_request& req, std::string_view replacement,
                        std::initializer_list<std::string_view> may_change = {}) {
  auto before = rest_test::decode_with(slack_web_decoder, req);
  REQUIRE(before.size() == 1);
  REQUIRE(!before[0].text_at.empty());
  http_request changed = req;
  decode_error e = slack_web_decoder.rewrite(changed.body, before[0].text_at, replacement);
  INFO(e.message());
  REQUIRE(!e);
  CHECK(changed.body != req.body);
  auto after = rest_test::decode_with(slack_web_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == replacement);
  std::vector<std::string_view> skip{"text"};
  skip.insert(skip.end(), may_change.begin(), may_change.end());
  boost::json::object a = to_json(after[0]), b = to_json(before[0]);
  for (auto k : skip) {
    a.erase(k);
    b.erase(k);
  }
  CHECK(a == b);
}

}  // namespace

TEST_CASE("slack: rewriting a form post", "[slack]") {
  auto f = rest_test::load_fixture("slack", "postmessage-form-gzip");
  check_text_rewrite(f.request, "[removed by policy] & more");
}

TEST_CASE("slack: rewriting a JSON post", "[slack]") {
  http_request req{head("POST", "https://slack.com/api/chat.postMessage",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer xoxp-1"}}),
                   R"({"channel":"C1","text":"card 4111 1111 1111 1111","thread_ts":"1.2"})"};
  check_text_rewrite(req, "[redacted]");
}

TEST_CASE("slack: rewriting web-client blocks replaces what is displayed", "[slack]") {
  auto f = rest_test::load_fixture("slack", "postmessage-webclient-blocks");
  check_text_rewrite(f.request, "\xe2\x9b\x94 blocked");
  // The rewritten blocks are a single rich_text block holding exactly the replacement.
  auto before = rest_test::decode_with(slack_web_decoder, f.request);
  http_request changed = f.request;
  REQUIRE(!slack_web_decoder.rewrite(changed.body, before[0].text_at, "x"));
  CHECK(changed.body.find("paso uno") == std::string::npos);
  CHECK(changed.body.find("U0BOB") == std::string::npos);
  CHECK(changed.body.find(R"("type":"rich_text_section")") != std::string::npos);
}

TEST_CASE("slack: blocks plus a fallback text are rewritten together", "[slack]") {
  const std::string blocks =
      R"([{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"secret plan"}]}]}])";
  http_request req{
      head("POST", "https://slack.com/api/chat.postMessage",
           {{"Content-Type", "application/x-www-form-urlencoded"}}),
      "token=xoxc-1&channel=C1&text=secret+plan&blocks=" +
          std::string("%5B%7B%22type%22%3A%22rich_text%22%2C%22elements%22%3A%5B%7B%22type%22%3A%"
                      "22rich_text_section%22%2C%22elements%22%3A%5B%7B%22type%22%3A%22text%22%2C%"
                      "22text%22%3A%22secret%20plan%22%7D%5D%7D%5D%7D%5D")};
  auto before = rest_test::decode_with(slack_web_decoder, req);
  REQUIRE(before.size() == 1);
  CHECK(before[0].text == "secret plan");
  REQUIRE(before[0].text_at.path.size() == 2);
  CHECK(before[0].text_at.path[0].kind == layer_kind::form);
  CHECK(before[0].text_at.path[0].key == "blocks");
  http_request changed = req;
  REQUIRE(!slack_web_decoder.rewrite(changed.body, before[0].text_at, "[x]"));
  CHECK(changed.body.find("secret") == std::string::npos);
  auto after = rest_test::decode_with(slack_web_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[x]");
  CHECK(!after[0].attribute("blocks_text"));
}

TEST_CASE("slack: rewriting inbound history, text and blocks-only", "[slack]") {
  for (const char* name : {"history-gzip", "replies-br-blocks-only"}) {
    INFO(name);
    auto f = rest_test::load_fixture("slack", name);
    auto before = rest_test::decode_with(slack_web_decoder, f.request, &f.response);
    REQUIRE(!before.empty());
    http_response changed = f.response;
    REQUIRE(!slack_web_decoder.rewrite(changed.body, before[0].text_at, "[gone]"));
    auto after = rest_test::decode_with(slack_web_decoder, f.request, &changed);
    REQUIRE(after.size() == before.size());
    CHECK(after[0].text == "[gone]");
    CHECK(rest_test::without(after[0], {"text"}) == rest_test::without(before[0], {"text"}));
    for (std::size_t i = 1; i < after.size(); ++i) CHECK(to_json(after[i]) == to_json(before[i]));
  }
}

TEST_CASE("slack: rewriting the comment of a legacy upload keeps the file part", "[slack]") {
  auto f = rest_test::load_fixture("slack", "files-upload-legacy");
  check_text_rewrite(f.request, "Liste entfernt");
}

TEST_CASE("slack: a location that is not in the body fails and keeps the body", "[slack]") {
  auto f = rest_test::load_fixture("slack", "postmessage-form-gzip");
  std::string body = f.request.body;
  CHECK(slack_web_decoder.rewrite(body, location{{{layer_kind::form, "nope"}}}, "x").code ==
        errc::malformed_form);
  CHECK(slack_web_decoder.rewrite(body, location{{{layer_kind::multipart, "0"}}}, "x").code ==
        errc::malformed_multipart);
  CHECK(body == f.request.body);
}

TEST_CASE("slack: an upload without a known slot still gives its bytes", "[slack]") {
  http_request req{head("POST", "https://files.slack.com/upload/v1/unknown-slot",
                        {{"Content-Type", "application/octet-stream"}}),
                   "raw-bytes"};
  auto ev = rest_test::decode_with(slack_web_decoder, req);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == event_kind::upload);
  REQUIRE(ev[0].attachments.size() == 1);
  CHECK(ev[0].attachments[0].ref.empty());
  CHECK(ev[0].attachments[0].sha256 == sha256_hex("raw-bytes"));
}

TEST_CASE("slack: ok:false answers carry no inbound messages", "[slack]") {
  http_request req{head("GET", "https://slack.com/api/conversations.history?channel=C1",
                        {{"Authorization", "Bearer xoxp-1"}}),
                   ""};
  http_response res;
  res.status = 200;
  res.body = R"({"ok":false,"error":"channel_not_found"})";
  decode_error e;
  auto ev = rest_test::decode_with(slack_web_decoder, req, &res, &e);
  CHECK(ev.empty());
  CHECK(!e);
  res.body = R"({"ok":true,"messages":{"not":"an array"}})";
  ev = rest_test::decode_with(slack_web_decoder, req, &res, &e);
  CHECK(ev.empty());
  CHECK(e.code == errc::malformed_json);
}

TEST_CASE("slack: text inside legacy message attachments is not missed", "[slack]") {
  http_request req{
      head("POST", "https://slack.com/api/chat.postMessage",
           {{"Content-Type", "application/json"}, {"Authorization", "Bearer xoxb-1"}}),
      R"({"channel":"C1","attachments":[{"fallback":"fb","pretext":"Report","text":"salary list attached","fields":[{"title":"Total","value":"1.2M"}]}]})"};
  auto ev = rest_test::decode_with(slack_web_decoder, req);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "Report\nsalary list attached\nTotal\n1.2M");
  CHECK(ev[0].attribute("attachments_text") == "Report\nsalary list attached\nTotal\n1.2M");
  REQUIRE(ev[0].text_at.path.size() == 1);
  CHECK(ev[0].text_at.path[0].key == "/attachments/0/text");

  // Form encoding: attachments is a JSON string; with a text the attachments stay an attribute.
  http_request form{head("POST", "https://slack.com/api/chat.postMessage",
                         {{"Content-Type", "application/x-www-form-urlencoded"}}),
                    "channel=C1&text=hi&attachments=%5B%7B%22text%22%3A%22hidden%22%7D%5D"};
  ev = rest_test::decode_with(slack_web_decoder, form);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "hi");
  CHECK(ev[0].attribute("attachments_text") == "hidden");

  decode_error e;
  form.body = "channel=C1&text=hi&attachments=%5B%7B";
  ev = rest_test::decode_with(slack_web_decoder, form, nullptr, &e);
  CHECK(e.code == errc::truncated);
}
