// Google Chat decoder: classification from the request head alone and rewrite at the
// reported locations.

#include <catch2/catch.hpp>

#include "modules/googlechat/googlechat.hpp"
#include "modules/registry.hpp"
#include "rest_support.hpp"

using namespace imcap::modules;
using rest_test::head;

TEST_CASE("google-chat: message and upload endpoints are claimed", "[googlechat]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages"},
           {"POST", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages?messageId=client-1"},
           {"PATCH", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages/M1?updateMask=text"},
           {"GET", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages?pageSize=10"},
           {"POST",
            "https://chat.googleapis.com/upload/v1/spaces/AAAAxyz/"
            "attachments:upload?uploadType=multipart"},
       }) {
    INFO(method << " " << url);
    CHECK(google_chat_decoder.classify(head(method, url)));
    const decoder* d = classify(head(method, url));
    REQUIRE(d != nullptr);
    CHECK(d->name == google_chat_decoder.name);
  }
}

TEST_CASE("google-chat: spaces, members, reactions and the web client are not claimed",
          "[googlechat]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "https://chat.googleapis.com/v1/spaces"},
           {"GET", "https://chat.googleapis.com/v1/spaces/AAAAxyz/members"},
           {"POST", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages/M1/reactions"},
           {"DELETE", "https://chat.googleapis.com/v1/spaces/AAAAxyz/messages/M1"},
           {"GET", "https://chat.googleapis.com/v1/media/spaces/AAAAxyz/attachments/A1?alt=media"},
           {"POST", "https://chat.google.com/u/0/webchannel/events?VER=8"},
           {"POST", "https://example.com/v1/spaces/AAAAxyz/messages"},
       }) {
    INFO(method << " " << url);
    CHECK_FALSE(google_chat_decoder.classify(head(method, url)));
    CHECK(classify(head(method, url)) == nullptr);
  }
}

TEST_CASE("google-chat: rewriting a created message and a listed one", "[googlechat]") {
  http_request req{head("POST", "https://chat.googleapis.com/v1/spaces/S/messages?messageId=c1",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer t"}}),
                   R"({"text":"IBAN DE89 3704 0044 0532 0130 00","thread":{"threadKey":"k"}})"};
  auto before = rest_test::decode_with(google_chat_decoder, req);
  REQUIRE(before.size() == 1);
  CHECK(before[0].client_msg_id == "c1");
  http_request changed = req;
  REQUIRE(!google_chat_decoder.rewrite(changed.body, before[0].text_at, "[IBAN entfernt]"));
  auto after = rest_test::decode_with(google_chat_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[IBAN entfernt]");
  CHECK(rest_test::without(after[0], {"text"}) == rest_test::without(before[0], {"text"}));

  auto f = rest_test::load_fixture("googlechat", "list-gzip");
  auto in_before = rest_test::decode_with(google_chat_decoder, f.request, &f.response);
  REQUIRE(in_before.size() == 1);
  http_response res = f.response;
  REQUIRE(!google_chat_decoder.rewrite(res.body, in_before[0].text_at, "***"));
  auto in_after = rest_test::decode_with(google_chat_decoder, f.request, &res);
  REQUIRE(in_after.size() == 1);
  CHECK(in_after[0].text == "***");
  CHECK(rest_test::without(in_after[0], {"text"}) == rest_test::without(in_before[0], {"text"}));
}

TEST_CASE("google-chat: a raw media upload gives its bytes", "[googlechat]") {
  http_request req{
      head("POST",
           "https://chat.googleapis.com/upload/v1/spaces/S/attachments:upload?uploadType=media",
           {{"Content-Type", "image/jpeg"}}),
      "\xff\xd8\xff\xe0jpeg"};
  auto ev = rest_test::decode_with(google_chat_decoder, req);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == event_kind::upload);
  CHECK(ev[0].conversation_id == "spaces/S");
  REQUIRE(ev[0].attachments.size() == 1);
  CHECK(ev[0].attachments[0].media_type == "image/jpeg");
  CHECK(ev[0].attachments[0].sha256 == sha256_hex(req.body));
}
