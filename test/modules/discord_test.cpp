// Discord decoder: classification from the request head alone, rewrite at the reported
// locations (JSON, payload_json part, legacy content part), exact snowflakes, edits.

#include <catch2/catch.hpp>

#include "modules/discord/discord.hpp"
#include "modules/registry.hpp"
#include "rest_support.hpp"

using namespace imcap::modules;
using rest_test::head;

TEST_CASE("discord: channel message endpoints are claimed", "[discord]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://discord.com/api/v9/channels/1191234567890123456/messages"},
           {"POST", "https://discord.com/api/v10/channels/1191234567890123456/messages"},
           {"POST", "https://discordapp.com/api/channels/1191234567890123456/messages"},
           {"POST", "https://ptb.discord.com/api/v9/channels/1/messages"},
           {"GET", "https://canary.discord.com/api/v9/channels/1/messages?limit=50"},
           {"PATCH", "https://discord.com/api/v9/channels/1/messages/2"},
       }) {
    INFO(method << " " << url);
    CHECK(discord_decoder.classify(head(method, url)));
    const decoder* d = classify(head(method, url));
    REQUIRE(d != nullptr);
    CHECK(d->name == discord_decoder.name);
  }
}

TEST_CASE("discord: typing, users, guilds, reactions and the CDN are not chat", "[discord]") {
  for (auto [method, url] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "https://discord.com/api/v9/channels/1/typing"},
           {"GET", "https://discord.com/api/v9/users/@me"},
           {"GET", "https://discord.com/api/v9/guilds/1/channels"},
           {"PUT", "https://discord.com/api/v9/channels/1/messages/2/reactions/%F0%9F%91%8D/@me"},
           {"POST", "https://discord.com/api/v9/channels/1/messages/2/ack"},
           {"DELETE", "https://discord.com/api/v9/channels/1/messages/2"},
           {"POST", "https://discord.com/api/v9/science"},
           {"GET", "https://cdn.discordapp.com/attachments/1/2/q3.pdf"},
           {"POST", "https://discord.com/api/v9/channels/general/messages"},
           {"POST", "https://discord.com.evil.example/api/v9/channels/1/messages"},
       }) {
    INFO(method << " " << url);
    CHECK_FALSE(discord_decoder.classify(head(method, url)));
    CHECK(classify(head(method, url)) == nullptr);
  }
}

namespace {

void check_rewrite(const http_request& req) {
  auto before = rest_test::decode_with(discord_decoder, req);
  REQUIRE(before.size() == 1);
  http_request changed = req;
  decode_error e = discord_decoder.rewrite(changed.body, before[0].text_at, "[removed] \xc3\xa9");
  INFO(e.message());
  REQUIRE(!e);
  auto after = rest_test::decode_with(discord_decoder, changed);
  REQUIRE(after.size() == 1);
  CHECK(after[0].text == "[removed] \xc3\xa9");
  CHECK(rest_test::without(after[0], {"text"}) == rest_test::without(before[0], {"text"}));
}

}  // namespace

TEST_CASE("discord: rewriting JSON, payload_json and legacy content", "[discord]") {
  check_rewrite(http_request{
      head("POST", "https://discord.com/api/v9/channels/1/messages",
           {{"Content-Type", "application/json"}, {"Authorization", "token"}}),
      R"({"content":"my password is hunter2","nonce":"1191234567890123457","tts":false})"});
  auto legacy = rest_test::load_fixture("discord", "legacy-file-field");
  check_rewrite(legacy.request);
  const std::string b = "bb";
  const std::string multipart =
      "--bb\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: "
      "application/json\r\n\r\n{\"content\":\"see attached\",\"attachments\":[{\"id\":0,"
      "\"filename\":\"a.txt\"}]}\r\n--bb\r\nContent-Disposition: form-data; name=\"files[0]\"; "
      "filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--bb--\r\n";
  check_rewrite(http_request{head("POST", "https://discord.com/api/v9/channels/1/messages",
                                  {{"Content-Type", "multipart/form-data; boundary=" + b}}),
                             multipart});
}

TEST_CASE("discord: 64-bit nonces and ids stay exact; edits name their target", "[discord]") {
  http_request req{
      head("PATCH",
           "https://discord.com/api/v9/channels/1191234567890123456/messages/18446744073709551615",
           {{"Content-Type", "application/json"}}),
      R"({"content":"edited","nonce":18446744073709551614})"};
  auto ev = rest_test::decode_with(discord_decoder, req);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].client_msg_id == "18446744073709551614");
  CHECK(ev[0].server_msg_id == "18446744073709551615");
  CHECK(ev[0].attribute("edit_of") == "18446744073709551615");
  CHECK(ev[0].conversation_id == "1191234567890123456");
}

TEST_CASE("discord: pre-uploaded attachments are references", "[discord]") {
  http_request req{
      head("POST", "https://discord.com/api/v9/channels/1/messages",
           {{"Content-Type", "application/json"}}),
      R"({"content":"","attachments":[{"id":"0","filename":"big.zip","uploaded_filename":"abc/big.zip"}]})"};
  auto ev = rest_test::decode_with(discord_decoder, req);
  REQUIRE(ev.size() == 1);
  REQUIRE(ev[0].attachments.size() == 1);
  CHECK(ev[0].attachments[0].name == "big.zip");
  CHECK(ev[0].attachments[0].ref == "abc/big.zip");
  CHECK(ev[0].attachments[0].bytes.empty());
}

TEST_CASE("discord: an empty or non-object body is an error", "[discord]") {
  decode_error e;
  rest_test::decode_with(discord_decoder,
                         http_request{head("POST", "https://discord.com/api/v9/channels/1/messages",
                                           {{"Content-Type", "application/json"}}),
                                      ""},
                         nullptr, &e);
  CHECK(e.code == errc::malformed_json);
  rest_test::decode_with(discord_decoder,
                         http_request{head("POST", "https://discord.com/api/v9/channels/1/messages",
                                           {{"Content-Type", "application/json"}}),
                                      "[1,2]"},
                         nullptr, &e);
  CHECK(e.code == errc::malformed_json);
}
