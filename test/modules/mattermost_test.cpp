#include <catch2/catch.hpp>

#include "misc_fixtures.hpp"
#include "modules/content/json.hpp"
#include "modules/mattermost/mattermost.hpp"

using namespace imcap::modules;

namespace {

request_head head(std::string method, std::string url, header_fields h = {}) {
  return request_head::make(std::move(method), std::move(url), std::move(h));
}

}  // namespace

TEST_CASE("mattermost classifies its chat endpoints and nothing else") {
  const auto classify = &mattermost::classify;
  CHECK(classify(head("POST", "https://chat.example.com/api/v4/posts")));
  CHECK(classify(head("POST", "https://chat.example.com/api/v4/files?channel_id=x&filename=a")));
  CHECK(classify(head("PUT", "https://chat.example.com/api/v4/posts/abc/patch")));
  CHECK(classify(head("GET", "https://chat.example.com/api/v4/channels/abc/posts?page=0")));
  CHECK(classify(head("GET", "https://chat.example.com/api/v4/posts/abc/thread")));
  CHECK(classify(head("GET", "https://chat.example.com/api/v4/users/me")));

  CHECK_FALSE(classify(head("GET", "https://chat.example.com/api/v4/posts")));
  CHECK(classify(head("POST", "https://chat.example.com/api/v4/users/login")));
  CHECK_FALSE(classify(head("GET", "https://chat.example.com/api/v4/users/login")));
  CHECK_FALSE(classify(head("GET", "https://chat.example.com/api/v4/channels/abc")));
  CHECK_FALSE(classify(head("GET", "https://chat.example.com/api/v4/channels/a/b/posts")));
  CHECK_FALSE(classify(head("POST", "https://chat.example.com/api/v3/posts")));
  CHECK_FALSE(classify(head("GET", "https://news.example.com/world/posts")));
}

TEST_CASE("mattermost rewrites a post's message and keeps the rest") {
  const std::string body =
      R"({"channel_id":"4xp9","message":"card 4111 1111 1111 1111","file_ids":["f1"]})";
  limits lim;
  http_request req{head("POST", "https://chat.example.com/api/v4/posts"), body};
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  REQUIRE_FALSE(mattermost::decode_request(x, out));
  REQUIRE(out.size() == 1);
  std::string rewritten = body;
  REQUIRE_FALSE(mattermost::rewrite(rewritten, out[0].text_at, "[redacted]"));

  http_request again{head("POST", "https://chat.example.com/api/v4/posts"), rewritten};
  exchange y{again, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out2;
  REQUIRE_FALSE(mattermost::decode_request(y, out2));
  REQUIRE(out2.size() == 1);
  CHECK(out2[0].text == "[redacted]");
  CHECK(out2[0].conversation_id == "4xp9");
  REQUIRE(out2[0].attachments.size() == 1);
  CHECK(out2[0].attachments[0].ref == "f1");
}

TEST_CASE("mattermost rewrites an uploaded file part and the multipart stays valid") {
  const auto dir = misc_test::fixtures_root / "mattermost/upload-then-post";
  const http_request req = misc_test::load_request(dir / "01-request.http");
  limits lim;
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  REQUIRE_FALSE(mattermost::decode_request(x, out));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].attachments.size() == 1);
  std::string body = req.body;
  REQUIRE_FALSE(mattermost::rewrite(body, out[0].attachments[0].at, "removed by policy"));
  http_request again{req.head, body};
  exchange y{again, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out2;
  REQUIRE_FALSE(mattermost::decode_request(y, out2));
  REQUIRE(out2.size() == 1);
  CHECK(out2[0].attachments[0].bytes == "removed by policy");
  CHECK(out2[0].attachments[0].name == "q3.pdf");
  CHECK(out2[0].conversation_id == out[0].conversation_id);
}

TEST_CASE("mattermost rewrite refuses what it did not produce") {
  std::string body = R"({"message":"x"})";
  const std::string before = body;
  location nowhere{{{layer_kind::json, "/no/such/field"}}};
  CHECK(mattermost::rewrite(body, nowhere, "y"));
  location frame{{{layer_kind::frame, "0"}}};
  CHECK(mattermost::rewrite(body, frame, "y").code == errc::malformed_frame);
  location part{{{layer_kind::multipart, "0"}}};
  CHECK(mattermost::rewrite(body, part, "y").code == errc::malformed_multipart);
  CHECK(body == before);
}

TEST_CASE("mattermost history over the part limit keeps what it decoded") {
  std::string body = R"({"order":["a","b","c"],"posts":{)"
                     R"("a":{"id":"a","message":"one","channel_id":"c"},)"
                     R"("b":{"id":"b","message":"two","channel_id":"c"},)"
                     R"("c":{"id":"c","message":"three","channel_id":"c"}}})";
  limits lim;
  lim.max_parts = 2;
  http_request req{head("GET", "https://chat.example.com/api/v4/channels/c/posts"), ""};
  http_response resp;
  resp.status = 200;
  resp.body = body;
  exchange x{req, &resp, "", "", nullptr, lim};
  std::vector<chat_event> out;
  const auto err = mattermost::decode_response(x, out);
  CHECK(err.code == errc::too_many_parts);
  REQUIRE(out.size() == 2);
  CHECK(out[0].text == "one");
  CHECK(out[1].text == "two");
}

TEST_CASE("mattermost ignores error answers and takes the proxy user when nothing better") {
  limits lim;
  http_request req{head("POST", "https://chat.example.com/api/v4/posts"),
                   R"({"channel_id":"c","message":"hi"})"};
  http_response resp;
  resp.status = 403;
  resp.body = R"({"id":"api.context.permissions.app_error","status_code":403})";
  exchange x{req, &resp, "CORP\\alice", "10.0.0.5", nullptr, lim};
  std::vector<chat_event> out;
  CHECK_FALSE(mattermost::decode_request(x, out));
  CHECK_FALSE(mattermost::decode_response(x, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].sender.id == "CORP\\alice");
  CHECK(out[0].sender.source == identity_source::proxy);
}
