#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "modules/matrix/matrix.hpp"

using namespace imcap::modules;

namespace {

request_head head(std::string method, std::string url) {
  return request_head::make(std::move(method), std::move(url), {});
}

}  // namespace

TEST_CASE("matrix classifies sends, uploads, sync and identity only") {
  const auto classify = &matrix::classify;
  const std::string c = "https://matrix.example.com/_matrix/client/";
  CHECK(classify(head("PUT", c + "v3/rooms/!a%3Aexample.com/send/m.room.message/t1")));
  CHECK(classify(head("PUT", c + "r0/rooms/!a%3Aexample.com/send/m.room.encrypted/t2")));
  CHECK(classify(head("GET", c + "v3/sync?since=s1&timeout=30000")));
  CHECK(classify(head("GET", c + "r0/rooms/!a%3Aexample.com/messages?dir=b")));
  CHECK(classify(head("GET", c + "v3/account/whoami")));
  CHECK(classify(head("POST", c + "v3/login")));
  CHECK(
      classify(head("POST", "https://matrix.example.com/_matrix/media/v3/upload?filename=a.pdf")));
  CHECK(classify(head("POST", "https://matrix.example.com/_matrix/media/r0/upload")));
  CHECK(
      classify(head("PUT", "https://matrix.example.com/_matrix/media/v3/upload/example.com/AQwa")));
  CHECK(classify(head("POST", "https://matrix.example.com/_matrix/client/v1/media/upload")));

  CHECK_FALSE(classify(head("GET", c + "v3/rooms/!a%3Aexample.com/send/m.room.message/t1")));
  CHECK_FALSE(classify(head("PUT", c + "v3/rooms/!a%3Aexample.com/send/m.room.message")));
  CHECK_FALSE(classify(head("PUT", c + "v3/rooms/!a%3Aexample.com/state/m.room.name/")));
  CHECK_FALSE(classify(head("GET", c + "v3/profile/@a:example.com")));
  CHECK_FALSE(classify(
      head("GET", "https://matrix.example.com/_matrix/media/v3/download/example.com/AQwa")));
  CHECK_FALSE(classify(head("GET", "https://news.example.com/sync")));
}

TEST_CASE("matrix rewrite of the body drops the HTML so clients show the new text") {
  std::string body =
      R"({"msgtype":"m.text","body":"secret 4111","format":"org.matrix.custom.html",)"
      R"("formatted_body":"<b>secret</b> 4111","m.new_content":{"msgtype":"m.text",)"
      R"("body":"secret 4111","formatted_body":"<b>secret</b>","format":"org.matrix.custom.html"}})";
  limits lim;
  http_request req{
      head("PUT", "https://m.example.com/_matrix/client/v3/rooms/!r%3Ax/send/m.room.message/t"),
      body};
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  REQUIRE_FALSE(matrix::decode_request(x, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].html == "<b>secret</b> 4111");
  REQUIRE_FALSE(matrix::rewrite(body, out[0].text_at, "[redacted]"));
  const auto v = boost::json::parse(body);
  CHECK(v.at("body") == "[redacted]");
  CHECK(v.at("msgtype") == "m.text");
  CHECK_FALSE(v.as_object().contains("formatted_body"));
  CHECK_FALSE(v.as_object().contains("format"));
  CHECK(v.at("m.new_content").at("body") == "[redacted]");
  CHECK_FALSE(v.at("m.new_content").as_object().contains("formatted_body"));

  http_request again{req.head, body};
  exchange y{again, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out2;
  REQUIRE_FALSE(matrix::decode_request(y, out2));
  REQUIRE(out2.size() == 1);
  CHECK(out2[0].text == "[redacted]");
  CHECK(out2[0].html.empty());
}

TEST_CASE("matrix rewrite refuses a missing or non-string target") {
  std::string body = R"({"msgtype":"m.text","body":"x","info":{"size":3}})";
  const std::string before = body;
  CHECK(matrix::rewrite(body, location{{{layer_kind::json, "/info/size"}}}, "y").code ==
        errc::malformed_json);
  CHECK(matrix::rewrite(body, location{{{layer_kind::json, "/nope"}}}, "y").code ==
        errc::malformed_json);
  CHECK(matrix::rewrite(body, location{{{layer_kind::form, "body"}}}, "y").code ==
        errc::malformed_frame);
  CHECK(body == before);
}

TEST_CASE("matrix events of other types give nothing, not an error") {
  limits lim;
  http_request req{
      head("PUT", "https://m.example.com/_matrix/client/v3/rooms/!r%3Ax/send/m.reaction/t"),
      R"({"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}})"};
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> out;
  CHECK_FALSE(matrix::decode_request(x, out));
  CHECK(out.empty());
}
