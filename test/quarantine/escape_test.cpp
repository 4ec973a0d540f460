// The one HTML escaping function and the download header helpers.

#include <catch2/catch.hpp>

#include "quarantine/escape.hpp"

using namespace imcap::quarantine;

TEST_CASE("html() escapes the five markup characters and nothing else in plain text",
          "[quarantine][escape]") {
  CHECK(html("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;");
  CHECK(html("\"><img src=x onerror=alert(1)>") == "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  CHECK(html("a'b&c") == "a&#39;b&amp;c");
  CHECK(html("&amp;") == "&amp;amp;");  // escaping is not idempotent by design: escape once
  CHECK(html("héllo 👍 tab\tnl\ncr\r") == "héllo 👍 tab\tnl\ncr\r");
  CHECK(html("") == "");
}

TEST_CASE("html() replaces control characters and malformed UTF-8 with U+FFFD",
          "[quarantine][escape]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(html(std::string("a\0b", 3)) == "a" + fffd + "b");
  CHECK(html("\x1b[31m") == fffd + "[31m");
  CHECK(html("\x7f") == fffd);
  CHECK(html("\xC2\x85") == fffd);         // C1 control NEL
  CHECK(html("\xC0\xBC") == fffd + fffd);  // overlong '<'
  CHECK(html("\xE0\x80\xBC") == fffd + fffd + fffd);
  CHECK(html("\xED\xA0\x80") == fffd + fffd + fffd);  // surrogate
  CHECK(html("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);
  CHECK(html("ok\xC3") == "ok" + fffd);   // truncated sequence at the end
  CHECK(html("\xC3<") == fffd + "&lt;");  // a lead byte cannot swallow the '<'
}

TEST_CASE("html() output never contains markup characters for any byte", "[quarantine][escape]") {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      const std::string in = {static_cast<char>(a), static_cast<char>(b), '<'};
      const std::string out = html(in);
      CHECK(out.find_first_of("<>\"'") == std::string::npos);
      CHECK(out.find('\0') == std::string::npos);
    }
  }
}

TEST_CASE("url_component keeps only unreserved characters", "[quarantine][escape]") {
  CHECK(url_component("C-1 \"><x>&y=z") == "C-1%20%22%3E%3Cx%3E%26y%3Dz");
  CHECK(url_component("javascript:alert(1)") == "javascript%3Aalert%281%29");
  CHECK(url_component("é") == "%C3%A9");
}

TEST_CASE(
    "safe_file_name keeps the last component and drops what could break a header or "
    "a path",
    "[quarantine][escape]") {
  CHECK(safe_file_name("../../etc/passwd") == "passwd");
  CHECK(safe_file_name("..\\..\\boot.ini") == "boot.ini");
  CHECK(safe_file_name("a\r\nSet-Cookie: x=1") == "a__Set-Cookie: x=1");
  CHECK(safe_file_name("..") == "attachment");
  CHECK(safe_file_name("") == "attachment");
  CHECK(safe_file_name("/") == "attachment");
  CHECK(safe_file_name(".hidden") == "hidden");
  CHECK(safe_file_name("rapport é.pdf") == "rapport é.pdf");
  CHECK(safe_file_name(std::string(300, 'x')).size() == 200);
  CHECK(safe_file_name(std::string(199, 'x') + "éé").size() == 199);  // not cut mid-character
}

TEST_CASE("content_disposition is RFC 6266 with an ASCII fallback and filename*",
          "[quarantine][escape]") {
  CHECK(content_disposition("report.pdf") ==
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  CHECK(content_disposition("rapport é \"final\".pdf") ==
        "attachment; filename=\"rapport __ _final_.pdf\"; "
        "filename*=UTF-8''rapport%20%C3%A9%20%22final%22.pdf");
  CHECK(content_disposition("x\\y%z") == "attachment; filename=\"y_z\"; filename*=UTF-8''y%25z");
  const auto cd = content_disposition("../a\r\nb\";c");
  CHECK(cd.find_first_of("\r\n") == std::string::npos);
  CHECK(cd == "attachment; filename=\"a__b_;c\"; filename*=UTF-8''a__b%22%3Bc");
}

TEST_CASE("utf8_floor never lands inside a character", "[quarantine][escape]") {
  const std::string s =
      "a\xF0\x9F\x91\x8D"
      "b";  // a 👍 b
  CHECK(utf8_floor(s, 0) == 0);
  CHECK(utf8_floor(s, 1) == 1);
  CHECK(utf8_floor(s, 2) == 1);
  CHECK(utf8_floor(s, 4) == 1);
  CHECK(utf8_floor(s, 5) == 5);
  CHECK(utf8_floor(s, 99) == s.size());
}

TEST_CASE("mark_ranges highlights byte ranges, escaping each segment on its own",
          "[quarantine][escape]") {
  CHECK(mark_ranges("my card is 4111, ok", {{11, 15, "dlp.card"}}) ==
        "my card is <mark title=\"dlp.card\">4111</mark>, ok");
  // The payload inside a range stays text; the label is escaped too.
  CHECK(mark_ranges("a<script>b", {{1, 9, "r\"><x"}}) ==
        "a<mark title=\"r&quot;&gt;&lt;x\">&lt;script&gt;</mark>b");
  // A range that cuts a character is widened to the whole character.
  const std::string thumbs = "x\xF0\x9F\x91\x8Dy";  // x 👍 y
  CHECK(mark_ranges(thumbs, {{2, 3, "r"}}) == "x<mark title=\"r\">\xF0\x9F\x91\x8D</mark>y");
  // A range cutting an escape's source character: '&' is one byte, escaped whole either side.
  CHECK(mark_ranges("a&b", {{1, 2, "amp"}}) == "a<mark title=\"amp\">&amp;</mark>b");
  // Overlaps give segments with every label; out-of-range and reversed ranges are ignored.
  CHECK(mark_ranges("abcdef", {{1, 4, "x"}, {3, 99, "y"}, {9, 12, "z"}, {5, 2, "w"}}) ==
        "a<mark title=\"x\">bc</mark><mark title=\"x, y\">d</mark><mark title=\"y\">ef</mark>");
  CHECK(mark_ranges("", {{0, 3, "x"}}).empty());
  CHECK(mark_ranges("plain", {}) == "plain");
}
