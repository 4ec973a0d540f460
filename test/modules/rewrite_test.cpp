#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/rewrite.hpp"

using namespace imcap::modules;
using namespace imcap::modules::content;

namespace {
decode_error rw(std::string& body, std::vector<layer> path, std::string_view with) {
  return rewrite_path(body, path, with, limits{});
}
}  // namespace

TEST_CASE("rewrite_path: form field holding double-encoded JSON") {
  // SignalR-classic style: data=<JSON whose "A" array holds a JSON string>.
  std::string inner = R"({"H":"chat","A":["{\"text\":\"secret\"}"]})";
  std::string body = serialize_form({{"transport", "longPolling"}, {"data", inner}});
  REQUIRE(!rw(body,
              {{layer_kind::form, "data"}, {layer_kind::json, "/A/0"}, {layer_kind::json, "/text"}},
              "gone"));
  std::vector<form_field> f;
  REQUIRE(!parse_form(body, limits{}, f));
  CHECK(*form_value(f, "transport") == "longPolling");
  boost::json::value v;
  REQUIRE(!parse_json(*form_value(f, "data"), limits{}, v));
  boost::json::value v2;
  REQUIRE(!parse_json(*string_at(v, "/A/0"), limits{}, v2));
  CHECK(string_at(v2, "/text") == "gone");
}

TEST_CASE("rewrite_path: json_string, base64 and the n-th duplicate form field") {
  std::string body = R"("{\"m\":\"x\"}")";
  REQUIRE(!rw(body, {{layer_kind::json_string, ""}, {layer_kind::json, "/m"}}, "y"));
  CHECK(body == R"("{\"m\":\"y\"}")");

  std::string b64 = base64_encode(R"({"t":"hello"})", base64_alphabet::url_safe);
  REQUIRE(!rw(b64, {{layer_kind::base64, "url"}, {layer_kind::json, "/t"}}, "bye"));
  std::string dec;
  REQUIRE(!base64_decode(b64, base64_alphabet::url_safe, limits{}, dec));
  CHECK(dec == R"({"t":"bye"})");

  std::string form = "message=a&message=b&message=c";
  REQUIRE(!rw(form, {{layer_kind::form, "message#1"}}, "B B"));
  CHECK(form == "message=a&message=B+B&message=c");
}

TEST_CASE("rewrite_path: errors leave the body untouched") {
  std::string body = R"({"a":1,"s":"x"})";
  const std::string orig = body;
  CHECK(rw(body, {}, "z").code == errc::malformed_frame);
  CHECK(rw(body, {{layer_kind::json, "/a"}}, "z").code == errc::malformed_json);
  CHECK(rw(body, {{layer_kind::json, "/nope"}}, "z").code == errc::malformed_json);
  CHECK(rw(body, {{layer_kind::json, "/s"}, {layer_kind::frame, "0"}}, "z").code ==
        errc::malformed_frame);
  CHECK(rw(body, {{layer_kind::form, "zz"}}, "z").code == errc::malformed_form);
  CHECK(rw(body, {{layer_kind::multipart, "0"}}, "z").code == errc::malformed_multipart);
  CHECK(rw(body, {{layer_kind::multipart, "x"}}, "z").code == errc::malformed_multipart);
  CHECK(rw(body, {{layer_kind::base64, ""}}, "z").code == errc::malformed_base64);
  CHECK(body == orig);
  std::vector<layer> deep(65, layer{layer_kind::json_string, ""});
  CHECK(rw(body, deep, "z").code == errc::too_deep);
}

TEST_CASE("multipart_boundary_of reads the first delimiter line") {
  CHECK(multipart_boundary_of("--abc\r\nX: y\r\n\r\nz\r\n--abc--") == "abc");
  CHECK(multipart_boundary_of("--abc  \r\n") == "abc");
  CHECK(multipart_boundary_of("preamble\r\n--abc\r\n").empty());
  CHECK(multipart_boundary_of("--abc").empty());
  CHECK(multipart_boundary_of("--\r\n").empty());
}

// Found by modules_decoders_fuzz (Bayeux, message=<JSON> form field): a replacement that is not
// UTF-8 ("caf\xc3", a text cut inside a character) was written into the JSON as raw bytes, and
// the rewritten body no longer parsed, for the client or for the decoder. Refused now.
TEST_CASE("rewrite_path: a replacement JSON cannot carry is refused, body untouched") {
  const std::string json = R"([{"channel":"/chat/sales","data":{"chat":"secret"}}])";
  const std::string form = serialize_form({{"message", json}});
  const std::string cut = "caf\xc3";
  const std::string latin1 = "caf\xe9";
  for (const std::string& bad : {cut, latin1}) {
    std::string body = form;
    const auto e =
        rw(body, {{layer_kind::form, "message"}, {layer_kind::json, "/0/data/chat"}}, bad);
    CHECK(e.code == errc::malformed_encoding);
    CHECK(body == form);
    std::string plain = json;
    CHECK(rw(plain, {{layer_kind::json, "/0/data/chat"}}, bad).code == errc::malformed_encoding);
    CHECK(plain == json);
    const std::string quoted = R"("{\"t\":\"x\"}")";
    std::string js = quoted;
    CHECK(rw(js, {{layer_kind::json_string, ""}}, bad).code == errc::malformed_encoding);
    CHECK(js == quoted);
  }
  // Well-formed UTF-8 (and a quote and a newline) goes in and reads back.
  std::string body = form;
  REQUIRE(!rw(body, {{layer_kind::form, "message"}, {layer_kind::json, "/0/data/chat"}},
              "caf\xc3\xa9 \"x\"\n"));
  std::vector<form_field> f;
  REQUIRE(!parse_form(body, limits{}, f));
  boost::json::value v;
  REQUIRE(!parse_json(*form_value(f, "message"), limits{}, v));
  CHECK(v.at(0).at("data").at("chat").as_string() == "caf\xc3\xa9 \"x\"\n");
}
