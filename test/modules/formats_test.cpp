// Body formats: form-urlencoded, multipart/form-data, JSON, XML and base64, each with its
// error paths and limits.

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/xml.hpp"

using namespace imcap::modules;
using namespace imcap::modules::content;

TEST_CASE("form: '+' is a space, escapes decode as UTF-8, duplicates stay in order") {
  std::vector<form_field> f;
  REQUIRE(!parse_form("text=Gr%C3%BC%C3%9Fe+aus+K%C3%B6ln&chat_id=-100123&&flag&text=2&a%2Bb=c%26d",
                      limits{}, f));
  REQUIRE(f.size() == 5);
  CHECK(f[0].name == "text");
  CHECK(f[0].value == "Grüße aus Köln");
  CHECK(f[1].value == "-100123");
  CHECK(f[2].name == "flag");
  CHECK(f[2].value.empty());
  CHECK(f[3].value == "2");
  CHECK(f[4].name == "a+b");
  CHECK(f[4].value == "c&d");
  CHECK(*form_value(f, "text") == "Grüße aus Köln");
  CHECK(form_value(f, "nope") == nullptr);
  CHECK(!parse_form("", limits{}, f));
  CHECK(f.empty());
}

TEST_CASE("form: serialize_form output parses back to the same fields") {
  std::vector<form_field> in = {{"text", "a b&c=d+e%f 😀"}, {"x y", ""}};
  auto s = serialize_form(in);
  CHECK(s.find(' ') == std::string::npos);
  std::vector<form_field> back;
  REQUIRE(!parse_form(s, limits{}, back));
  REQUIRE(back.size() == 2);
  CHECK(back[0].value == in[0].value);
  CHECK(back[1].name == "x y");
}

TEST_CASE("form: bad escapes and too many fields") {
  std::vector<form_field> f;
  auto e = parse_form("a=1&text=50%", limits{}, f);
  CHECK(e.code == errc::malformed_form);
  CHECK(e.detail.find("field 2") != std::string::npos);
  CHECK(parse_form("a%zz=1", limits{}, f).code == errc::malformed_form);
  limits lim;
  lim.max_parts = 3;
  CHECK(!parse_form("a=1&b=2&c=3", lim, f));
  CHECK(parse_form("a=1&b=2&c=3&d=4", lim, f).code == errc::too_many_parts);
}

namespace {
const std::string ct = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
const std::string mp =
    "preamble to ignore\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
    "Content-Disposition: form-data; name=\"chat_id\"\r\n"
    "\r\n"
    "42\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
    "Content-Disposition: form-data; name=\"document\"; filename=\"fallback.txt\"; "
    "filename*=UTF-8''%E6%8A%A5%E5%91%8A.txt\r\n"
    "Content-Type: Text/CSV; charset=utf-8\r\n"
    "\r\n"
    "a,b\r\n1,2\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
    "Content-Disposition: form-data; name=\"b64\"; filename=\"\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "aGVs\r\nbG8=\r\n"
    "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"
    "epilogue";
}  // namespace

TEST_CASE("multipart: parts, names, RFC 8187 filename, default type, base64 transfer") {
  std::vector<multipart_part> parts;
  REQUIRE(!parse_multipart(ct, mp, limits{}, parts));
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].name == "chat_id");
  CHECK(parts[0].body == "42");
  CHECK(!parts[0].has_filename);
  CHECK(parts[0].media_type == "text/plain");
  CHECK(parts[1].filename == "报告.txt");
  CHECK(parts[1].has_filename);
  CHECK(parts[1].media_type == "text/csv");
  CHECK(parts[1].body == "a,b\r\n1,2");
  CHECK(mp.substr(parts[1].body_offset, parts[1].body_length) == "a,b\r\n1,2");
  CHECK(parts[2].has_filename);
  CHECK(parts[2].filename.empty());
  CHECK(parts[2].body == "hello");
  CHECK(find_part(parts, "document") == &parts[1]);
  CHECK(find_part(parts, "x") == nullptr);
}

TEST_CASE("multipart: quoted boundary with special characters and ISO-8859-1 filename*") {
  std::string body =
      "--a:b c?\r\n"
      "Content-Disposition: form-data; name=\"f\"; filename*=iso-8859-1'de'K%F6ln.txt\r\n"
      "\r\n"
      "x\r\n"
      "--a:b c?--";
  std::vector<multipart_part> parts;
  REQUIRE(!parse_multipart("multipart/form-data; boundary=\"a:b c?\"", body, limits{}, parts));
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].filename == "Köln.txt");
  CHECK(parts[0].body == "x");
}

TEST_CASE("multipart: every framing error") {
  std::vector<multipart_part> parts;
  auto code = [&](std::string_view type, std::string_view body) {
    return parse_multipart(type, body, limits{}, parts).code;
  };
  CHECK(code("multipart/form-data", mp) == errc::malformed_multipart);
  CHECK(code("multipart/form-data; boundary=" + std::string(71, 'x'), "") ==
        errc::malformed_multipart);
  CHECK(code("multipart/form-data; boundary=zzz", mp) == errc::malformed_multipart);
  // Cut inside the last part: no closing boundary.
  CHECK(code(ct, mp.substr(0, mp.find("aGVs"))) == errc::truncated);
  // Cut inside a part's headers.
  CHECK(code(ct, mp.substr(0, mp.find("name=\"chat_id\""))) == errc::truncated);
  // A boundary but no closing "--".
  CHECK(code("multipart/form-data; boundary=b",
             "--b\r\nContent-Disposition: form-data; "
             "name=a\r\n\r\nx\r\n--b") == errc::truncated);
  // Text right after the boundary on its line.
  CHECK(code("multipart/form-data; boundary=b", "--bX\r\n\r\n--b--") == errc::malformed_multipart);
  // A header line without a colon.
  CHECK(code("multipart/form-data; boundary=b", "--b\r\nbogus\r\n\r\nx\r\n--b--") ==
        errc::malformed_multipart);
  // form-data part without Content-Disposition.
  auto e = parse_multipart("multipart/form-data; boundary=b",
                           "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", limits{}, parts);
  CHECK(e.code == errc::malformed_multipart);
  CHECK(e.detail == "multipart: part 1 has no Content-Disposition");
  // ... which multipart/related allows.
  CHECK(code("multipart/related; boundary=b",
             "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--") == errc::ok);
  // filename* that is not an RFC 8187 ext-value.
  CHECK(
      code(
          "multipart/form-data; boundary=b",
          "--b\r\nContent-Disposition: form-data; name=a; filename*=plain.txt\r\n\r\nx\r\n--b--") ==
      errc::malformed_multipart);
  // Corrupt base64 transfer encoding.
  CHECK(code("multipart/form-data; boundary=b",
             "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
             "base64\r\n\r\n!!!!\r\n--b--") == errc::malformed_base64);
  // Part limit.
  limits lim;
  lim.max_parts = 2;
  CHECK(parse_multipart(ct, mp, lim, parts).code == errc::too_many_parts);
  CHECK(parts.size() == 2);  // the parts before the limit are kept
  lim = limits{};
  lim.max_decoded_bytes = 10;
  CHECK(parse_multipart(ct, mp, lim, parts).code == errc::too_large);
}

TEST_CASE("multipart: replace_part_body splices one part and keeps the rest") {
  std::vector<multipart_part> parts;
  REQUIRE(!parse_multipart(ct, mp, limits{}, parts));
  std::string body = mp;
  REQUIRE(!replace_part_body(body, parts, 1, "[redacted]"));
  std::vector<multipart_part> again;
  REQUIRE(!parse_multipart(ct, body, limits{}, again));
  REQUIRE(again.size() == 3);
  CHECK(again[0].body == "42");
  CHECK(again[1].body == "[redacted]");
  CHECK(again[1].filename == "报告.txt");
  CHECK(again[2].body == "hello");

  // The base64 part is re-encoded.
  body = mp;
  REQUIRE(!replace_part_body(body, parts, 2, "bye"));
  REQUIRE(!parse_multipart(ct, body, limits{}, again));
  CHECK(again[2].body == "bye");

  body = mp;
  CHECK(replace_part_body(body, parts, 3, "x").code == errc::malformed_multipart);
  CHECK(
      replace_part_body(body, parts, 0, "a\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n").code ==
      errc::malformed_multipart);
  CHECK(replace_part_body(body, parts, 0, "------WebKitFormBoundary7MA4YWxkTrZu0gW").code ==
        errc::malformed_multipart);
  CHECK(body == mp);  // untouched on error
  std::string other = "short";
  CHECK(replace_part_body(other, parts, 1, "x").code == errc::malformed_multipart);
}

TEST_CASE("json: 64-bit ids exact, surrogate pairs, pointers") {
  boost::json::value v;
  REQUIRE(!parse_json(R"({"id":18446744073709551615,"neg":-9223372036854775808,"d":3.0,)"
                      R"("f":1.5,"s":"\ud83d\udc4b hi","a/b":{"~x":["z"]},"n":null})",
                      limits{}, v));
  CHECK(id_at(v, "/id") == "18446744073709551615");
  CHECK(id_at(v, "/neg") == "-9223372036854775808");
  CHECK(id_at(v, "/d") == "3");
  CHECK(!id_at(v, "/f"));
  CHECK(!id_at(v, "/n"));
  CHECK(id_at(v, "/s") == "👋 hi");
  CHECK(string_at(v, "/s") == "👋 hi");
  CHECK(!string_at(v, "/id"));
  CHECK(string_at(v, "/" + pointer_escape("a/b") + "/" + pointer_escape("~x") + "/0") == "z");
  CHECK(at_pointer(v, "/missing") == nullptr);
  CHECK(at_pointer(v, "bad pointer") == nullptr);
}

TEST_CASE("json: at_pointer gives find_pointer's answer, in an arena too") {
  // at_pointer walks plain pointers itself (content/json.cpp); every answer, found or not, must
  // be the value Boost.JSON's RFC 6901 find_pointer gives.
  content::json_arena arena;
  boost::json::value v(arena.storage());
  REQUIRE(!parse_json(R"({"a":{"b":[10,{"c":"x"},[]],"":{"":1}},"0":"zero","a~b":2,"s":"t"})",
                      limits{}, v));
  CHECK(v.storage().get() == arena.storage().get());
  for (const char* p : {"",
                        "/",
                        "/a",
                        "/a/b",
                        "/a/b/0",
                        "/a/b/1/c",
                        "/a/b/2",
                        "/a/b/3",
                        "/a/b/-",
                        "/a/b/01",
                        "/a/b/1x",
                        "/a/b/00",
                        "/a/b/99999999999999999999",
                        "/a//",
                        "/a/",
                        "//",
                        "/0",
                        "/a~0b",
                        "/a~1b",
                        "/a~2",
                        "/s/x",
                        "/s/0",
                        "/missing/x",
                        "a",
                        "/a/b/1/c/",
                        "/a/b/+1"}) {
    boost::system::error_code ec;
    const boost::json::value* want = v.find_pointer(p, ec);
    if (ec) want = nullptr;
    INFO("pointer " << p);
    CHECK(at_pointer(v, p) == want);
  }
}

TEST_CASE("json: syntax errors, truncation and depth") {
  boost::json::value v;
  CHECK(parse_json("{\"a\":}", limits{}, v).code == errc::malformed_json);
  CHECK(parse_json("{\"a\":1} x", limits{}, v).code == errc::malformed_json);
  CHECK(parse_json("{\"a\":\"\xff\"}", limits{}, v).code == errc::malformed_json);
  CHECK(parse_json("{\"a\":[1,2", limits{}, v).code == errc::truncated);
  CHECK(parse_json("", limits{}, v).code == errc::truncated);
  std::string deep(10'000, '[');
  deep += std::string(10'000, ']');
  auto e = parse_json(deep, limits{}, v);
  CHECK(e.code == errc::too_deep);
  limits lim;
  lim.max_depth = 3;
  CHECK(!parse_json("[[[1]]]", lim, v));
  CHECK(parse_json("[[[[1]]]]", lim, v).code == errc::too_deep);
  lim = limits{};
  lim.max_decoded_bytes = 4;
  CHECK(parse_json("[1,2]", lim, v).code == errc::too_large);
}

TEST_CASE("json: replace_string rewrites one string and nothing else") {
  std::string doc = R"({"chat_id":123456789012345678,"text":"secret","n":[{"t":"x"}]})";
  REQUIRE(!replace_string(doc, "/text", "[redacted] ✓", limits{}));
  boost::json::value v;
  REQUIRE(!parse_json(doc, limits{}, v));
  CHECK(string_at(v, "/text") == "[redacted] ✓");
  CHECK(id_at(v, "/chat_id") == "123456789012345678");
  REQUIRE(!replace_string(doc, "/n/0/t", "y", limits{}));
  std::string before = doc;
  CHECK(replace_string(doc, "/chat_id", "x", limits{}).code == errc::malformed_json);
  CHECK(replace_string(doc, "/nope", "x", limits{}).code == errc::malformed_json);
  CHECK(doc == before);
  std::string broken = "{";
  CHECK(replace_string(broken, "/a", "x", limits{}).code == errc::truncated);
}

TEST_CASE("xml: namespaces, entities, errors, DOCTYPE refused, depth bounded") {
  pugi::xml_document doc;
  REQUIRE(
      !parse_xml("<body xmlns='http://jabber.org/protocol/httpbind'>"
                 "<message xmlns='jabber:client' to='b@x' xmlns:e='urn:e'>"
                 "<body>Tom &amp; J&#xE9;r&#233;my &lt;3</body><e:x/></message></body>",
                 limits{}, doc));
  auto msg = doc.child("body").child("message");
  CHECK(namespace_of(msg) == "jabber:client");
  CHECK(namespace_of(doc.child("body")) == "http://jabber.org/protocol/httpbind");
  CHECK(std::string(msg.child_value("body")) == "Tom & Jérémy <3");
  CHECK(namespace_of(msg.child("body")) == "jabber:client");
  CHECK(namespace_of(msg.child("e:x")) == "urn:e");
  CHECK(local_name(msg.child("e:x")) == "x");
  CHECK(local_name(msg) == "message");

  CHECK(parse_xml("<a><b></a>", limits{}, doc).code == errc::malformed_xml);
  CHECK(parse_xml("<a><b></c></a>", limits{}, doc).code == errc::malformed_xml);
  CHECK(parse_xml("", limits{}, doc).code == errc::malformed_xml);
  CHECK(parse_xml("just text", limits{}, doc).code == errc::malformed_xml);
  CHECK(parse_xml("<a><b>cut", limits{}, doc).code == errc::truncated);
  CHECK(parse_xml("<a><b>cut</b>", limits{}, doc).code == errc::truncated);
  CHECK(parse_xml("<a", limits{}, doc).code == errc::truncated);
  CHECK(parse_xml("<a>&unknown;</a>", limits{}, doc).code == errc::ok);  // left as text
  auto e =
      parse_xml("<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'boom'>]><a>&x;</a>", limits{}, doc);
  CHECK(e.code == errc::malformed_xml);
  CHECK(e.detail.find("DOCTYPE") != std::string::npos);
  CHECK(!doc.first_child());

  std::string deep;
  for (int i = 0; i < 10'000; ++i) deep += "<a>";
  for (int i = 0; i < 10'000; ++i) deep += "</a>";
  CHECK(parse_xml(deep, limits{}, doc).code == errc::too_deep);
  limits lim;
  lim.max_depth = 3;
  CHECK(!parse_xml("<a><b><c>t</c></b><b/></a>", lim, doc));
  CHECK(parse_xml("<a><b><c><d/></c></b></a>", lim, doc).code == errc::too_deep);
  lim = limits{};
  lim.max_decoded_bytes = 3;
  CHECK(parse_xml("<a/>", lim, doc).code == errc::too_large);
}

TEST_CASE("base64: alphabets, optional padding, whitespace, errors") {
  std::string out;
  CHECK(!base64_decode("aGVsbG8gd29ybGQ=", base64_alphabet::standard, limits{}, out));
  CHECK(out == "hello world");
  CHECK(!base64_decode("aGVsbG8gd29ybGQ", base64_alphabet::standard, limits{}, out));
  CHECK(out == "hello world");
  CHECK(!base64_decode("aGVs\r\nbG8g d29y\tbGQ=\n", base64_alphabet::standard, limits{}, out));
  CHECK(out == "hello world");
  CHECK(!base64_decode("-_8", base64_alphabet::url_safe, limits{}, out));
  CHECK(out == "\xfb\xff");
  CHECK(base64_decode("+/8=", base64_alphabet::url_safe, limits{}, out).code ==
        errc::malformed_base64);
  CHECK(base64_decode("-_8=", base64_alphabet::standard, limits{}, out).code ==
        errc::malformed_base64);
  CHECK(base64_decode("a", base64_alphabet::standard, limits{}, out).code ==
        errc::malformed_base64);
  CHECK(base64_decode("aGVs===", base64_alphabet::standard, limits{}, out).code ==
        errc::malformed_base64);
  CHECK(base64_decode("aG=Vs", base64_alphabet::standard, limits{}, out).code ==
        errc::malformed_base64);
  CHECK(!base64_decode("", base64_alphabet::standard, limits{}, out));
  CHECK(out.empty());
  limits lim;
  lim.max_decoded_bytes = 4;
  CHECK(base64_decode("aGVsbG8gd29ybGQ=", base64_alphabet::standard, lim, out).code ==
        errc::too_large);
  std::string bin("\x00\xff\xfe hi", 6);
  for (auto a : {base64_alphabet::standard, base64_alphabet::url_safe}) {
    REQUIRE(!base64_decode(base64_encode(bin, a), a, limits{}, out));
    CHECK(out == bin);
  }
  CHECK(base64_encode("\xfb\xff", base64_alphabet::standard) == "+/8=");
  CHECK(base64_encode("\xfb\xff", base64_alphabet::url_safe) == "-_8=");
}
