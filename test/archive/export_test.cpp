// Export helpers: time parsing for --from/--to, and EML that chat content cannot break.

#include "archive/export.hpp"
#include "archive/codec.hpp"
#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

TEST_CASE("--from/--to times: RFC 3339 and dates, strict about the rest", "[archive][export]") {
  const std::int64_t day = 86'400'000'000;
  const std::int64_t base = 19'675 * day;  // 2023-11-14T00:00:00Z
  CHECK(parse_time("2023-11-14") == base);
  CHECK(parse_time("2023-11-14", true) == base + day);
  CHECK(parse_time("2023-11-14T10:00:00Z") == base + 36'000'000'000);
  CHECK(parse_time("2023-11-14t10:00:00z") == base + 36'000'000'000);
  CHECK(parse_time("2023-11-14T11:30:00+01:30") == base + 36'000'000'000);
  CHECK(parse_time("2023-11-14T08:00:00-02:00") == base + 36'000'000'000);
  CHECK(parse_time("2023-11-14T10:00:00.25Z") == base + 36'000'250'000);
  CHECK(parse_time("1969-12-31T23:59:59Z") == -1'000'000);
  for (const char* bad : {"", "2023-11-1", "2023-02-30", "2023-13-01", "2023-11-14T25:00:00Z",
                          "2023-11-14T10:00:00", "2023-11-14T10:00Z", "2023-11-14T10:00:00.Z",
                          "2023-11-14T10:00:00+0100", "2023-11-14T10:00:00Zjunk", "yesterday"})
    CHECK_FALSE(parse_time(bad));
  CHECK(rfc3339(base + 36'000'000'000) == "2023-11-14T10:00:00Z");
  CHECK(rfc3339(base + 250'000) == "2023-11-14T00:00:00.250000Z");
  CHECK(rfc3339(-1'000'000) == "1969-12-31T23:59:59Z");
  CHECK(rfc3339(-1) == "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("EML headers and boundaries cannot be injected from chat content", "[archive][export]") {
  auto e = sample_event(1);
  e.id = 1;
  e.sender_name = "Eve\r\nBcc: victim@example.com";
  e.conversation_id = "C1\r\nX-Evil: 1";
  e.recipients = {{"U<bob>@\"x\"", "B\xc3\xb6\x62"}};
  e.attachments[0].name = "a\"b\r\nContent-Type: text/html.txt";
  e.attachments[0].media_type = "text/html\r\nX-Evil: 2";
  const std::string bytes = "--=_imcap_ fake boundary\r\n";
  e.attachments[0].sha256 = codec::to_hex(codec::sha256(bytes));
  e.attachments[0].content_stored = true;
  e.text = "line one\r\n--=_imcap_0000\r\nContent-Type: text/html\r\n\r\n<script>";
  const auto m = conversation_eml({e}, [&](std::string_view) { return std::optional(bytes); });
  const auto head = m.substr(0, m.find("\r\n\r\n") + 2);
  CHECK(m.find("\r\nBcc:") == std::string::npos);
  CHECK(m.find("\r\nX-Evil") == std::string::npos);
  CHECK(head.find("From: =?UTF-8?B?") == 0);
  CHECK(head.find("<U_bob___x_@slack.imcap.invalid>") != std::string::npos);
  CHECK(head.find("=?UTF-8?B?QsO2Yg==?=") != std::string::npos);  // "Böb"
  // The text stays on one body line; the declared media type was not a type, so octet-stream.
  CHECK(m.find("line one / --=_imcap_0000 / Content-Type: text/html /  / <script> [warn]\r\n") !=
        std::string::npos);
  CHECK(m.find("Content-Type: application/octet-stream; name*=UTF-8''a%22b%0D%0AContent-Type%3A") !=
        std::string::npos);
  // Exactly the real boundary delimits parts: two parts, one closing delimiter.
  const auto bpos = head.find("boundary=\"");
  REQUIRE(bpos != std::string::npos);
  const auto boundary = head.substr(bpos + 10, head.find('"', bpos + 10) - bpos - 10);
  std::size_t parts = 0;
  for (auto at = m.find("\r\n--" + boundary + "\r\n"); at != std::string::npos;
       at = m.find("\r\n--" + boundary + "\r\n", at + 1))
    ++parts;
  CHECK(parts == 2);
  CHECK(m.find("\r\n--" + boundary + "--\r\n") == m.size() - boundary.size() - 8);
}
