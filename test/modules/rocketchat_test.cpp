#include <catch2/catch.hpp>

#include "misc_fixtures.hpp"
#include "modules/rocketchat/rocketchat_rest.hpp"

using namespace imcap::modules;

namespace {

request_head head(std::string method, std::string url) {
  return request_head::make(std::move(method), std::move(url), {});
}

std::vector<chat_event> decode(const http_request& req, decode_error* err = nullptr) {
  limits lim;
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  auto e = rocketchat::decode_request(x, out);
  if (err != nullptr) *err = e;
  return out;
}

}  // namespace

TEST_CASE("rocketchat-rest classifies REST chat endpoints, not method.call") {
  const auto classify = &rocketchat::classify;
  const std::string base = "https://rocket.example.com/api/v1/";
  CHECK(classify(head("POST", base + "chat.sendMessage")));
  CHECK(classify(head("POST", base + "chat.postMessage")));
  CHECK(classify(head("POST", base + "chat.update")));
  CHECK(classify(head("POST", base + "rooms.upload/GENERAL")));
  CHECK(classify(head("POST", base + "rooms.media/GENERAL")));
  CHECK(classify(head("POST", base + "rooms.mediaConfirm/GENERAL/67109d6c")));
  CHECK(classify(head("GET", base + "channels.history?roomId=GENERAL")));
  CHECK(classify(head("GET", base + "im.history?roomId=x")));
  CHECK_FALSE(classify(head("GET", base + "me")));  // without Rocket.Chat's auth header
  {
    header_fields h;
    h.add("X-Auth-Token", "t");
    CHECK(classify(request_head::make("GET", base + "me", std::move(h))));
  }

  CHECK_FALSE(classify(head("POST", base + "method.call/sendMessage")));
  CHECK_FALSE(classify(head("POST", base + "method.call")));
  CHECK_FALSE(classify(head("POST", base + "login")));
  CHECK_FALSE(classify(head("GET", base + "chat.sendMessage")));
  CHECK_FALSE(classify(head("POST", base + "rooms.upload/")));
  CHECK_FALSE(classify(head("POST", base + "rooms.upload/a/b")));
  CHECK_FALSE(classify(head("POST", base + "rooms.mediaConfirm/GENERAL")));
  CHECK_FALSE(classify(head("POST", base + "rooms.mediaConfirm/GENERAL/")));
  CHECK_FALSE(classify(head("GET", "https://news.example.com/api/v1/articles")));
}

TEST_CASE("rocketchat-rest rewrites sendMessage text and the rooms.upload msg part") {
  const std::string body = R"({"message":{"rid":"GENERAL","msg":"IBAN DE89370400440532013000"}})";
  http_request req{head("POST", "https://rocket.example.com/api/v1/chat.sendMessage"), body};
  auto ev = decode(req);
  REQUIRE(ev.size() == 1);
  std::string rewritten = body;
  REQUIRE_FALSE(rocketchat::rewrite(rewritten, ev[0].text_at, "[removed]"));
  http_request again{req.head, rewritten};
  auto ev2 = decode(again);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].text == "[removed]");
  CHECK(ev2[0].conversation_id == "GENERAL");

  const auto up =
      misc_test::load_request(misc_test::fixtures_root / "rocketchat/rooms-upload/request.http");
  auto ev3 = decode(up);
  REQUIRE(ev3.size() == 1);
  std::string mp = up.body;
  REQUIRE_FALSE(rocketchat::rewrite(mp, ev3[0].text_at, "[removed]"));
  http_request up2{up.head, mp};
  auto ev4 = decode(up2);
  REQUIRE(ev4.size() == 1);
  CHECK(ev4[0].text == "[removed]");
  REQUIRE(ev4[0].attachments.size() == 1);
  CHECK(ev4[0].attachments[0].sha256 == ev3[0].attachments[0].sha256);
}

TEST_CASE("rocketchat-rest errors: no message object, upload without file") {
  decode_error err;
  http_request req{head("POST", "https://rocket.example.com/api/v1/chat.sendMessage"),
                   R"({"msg":"top-level is not the API shape"})"};
  CHECK(decode(req, &err).empty());
  CHECK(err.code == errc::malformed_json);

  http_request up{
      request_head::make("POST", "https://rocket.example.com/api/v1/rooms.upload/GENERAL",
                         [] {
                           header_fields h;
                           h.add("Content-Type", "multipart/form-data; boundary=b");
                           return h;
                         }()),
      "--b\r\nContent-Disposition: form-data; name=\"msg\"\r\n\r\nhello\r\n--b--\r\n"};
  CHECK(decode(up, &err).empty());
  CHECK(err.code == errc::malformed_multipart);
}
