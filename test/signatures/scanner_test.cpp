// The compiler and scanner with real Vectorscan, libmagic and libarchive: byte ranges, options,
// conditions, scope, streaming across chunk boundaries, file/app/user-agent rules, limits and
// the on-disk database cache.

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <thread>
#include <tuple>

#include "sig_test_util.hpp"
#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"

using namespace imcap::signatures;

namespace {

std::shared_ptr<const compiled_pack> pack_from(const sigtest::temp_dir& d, const std::string& rules,
                                               const std::string& mode = "enforce",
                                               const compile_options& opts = {}) {
  return load_pack(
      d.write("p.toml", "name = \"t\"\nversion = \"7\"\nmode = \"" + mode + "\"\n" + rules), opts);
}

using brief = std::tuple<std::string, part, std::size_t, std::size_t>;

std::vector<brief> briefs(const scan_result& r) {
  std::vector<brief> out;
  for (const auto& h : r.hits) out.emplace_back(h.rule_id, h.where, h.begin, h.end);
  return out;
}

scan_result scan_text(const compiled_pack& p, std::string_view text, scan_context ctx = {}) {
  scan_input in;
  in.text = text;
  in.context = std::move(ctx);
  return scan(p, in);
}

std::string from_base64(std::string_view b64) {
  std::string out(b64.size(), '\0');
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), b64.data(),
                            b64.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  out.resize(len);
  return out;
}

// zip: readme.txt + inner.zip (which holds tools/setup.exe, an MZ executable).
constexpr std::string_view nested_zip_b64 =
    "UEsDBBQAAAAAAE9pd12GphA2BQAAAAUAAAAKAAAAcmVhZG1lLnR4dGhlbGxvUEsDBBQAAAAAAE9pd12Eomh6wAAAAMAAAA"
    "AJAAAAaW5uZXIuemlwUEsDBBQAAAAAAE9pd12F5O+"
    "yQAAAAEAAAAAPAAAAdG9vbHMvc2V0dXAuZXhlTVqQAAMAAAAEAAAA//"
    "8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFBLAQIUAxQAAAAAAE9pd12F5O+"
    "yQAAAAEAAAAAPAAAAAAAAAAAAAACAAQAAAAB0b29scy9zZXR1cC5leGVQSwUGAAAAAAEAAQA9AAAAbQAAAAAAUEsBAhQDF"
    "AAAAAAAT2l3XYamEDYFAAAABQAAAAoAAAAAAAAAAAAAAIABAAAAAHJlYWRtZS50eHRQSwECFAMUAAAAAABPaXddhKJoesA"
    "AAADAAAAACQAAAAAAAAAAAAAAgAEtAAAAaW5uZXIuemlwUEsFBgAAAAACAAIAbwAAABQBAAAAAA==";
// zip: f0.txt .. f4.txt
constexpr std::string_view five_zip_b64 =
    "UEsDBBQAAAAAAE9pd12DFtyMAQAAAAEAAAAGAAAAZjAudHh0eFBLAwQUAAAAAABPaXddgxbcjAEAAAABAAAABgAAAGYxLn"
    "R4dHhQSwMEFAAAAAAAT2l3XYMW3IwBAAAAAQAAAAYAAABmMi50eHR4UEsDBBQAAAAAAE9pd12DFtyMAQAAAAEAAAAGAAAA"
    "ZjMudHh0eFBLAwQUAAAAAABPaXddgxbcjAEAAAABAAAABgAAAGY0LnR4dHhQSwECFAMUAAAAAABPaXddgxbcjAEAAAABAA"
    "AABgAAAAAAAAAAAAAAgAEAAAAAZjAudHh0UEsBAhQDFAAAAAAAT2l3XYMW3IwBAAAAAQAAAAYAAAAAAAAAAAAAAIABJQAA"
    "AGYxLnR4dFBLAQIUAxQAAAAAAE9pd12DFtyMAQAAAAEAAAAGAAAAAAAAAAAAAACAAUoAAABmMi50eHRQSwECFAMUAAAAAA"
    "BPaXddgxbcjAEAAAABAAAABgAAAAAAAAAAAAAAgAFvAAAAZjMudHh0UEsBAhQDFAAAAAAAT2l3XYMW3IwBAAAAAQAAAAYA"
    "AAAAAAAAAAAAAIABlAAAAGY0LnR4dFBLBQYAAAAABQAFAAQBAAC5AAAAAAA=";

const std::string mixed_rules =
    "[[rule]]\nid = \"kw\"\nkind = \"keyword\"\nkeywords = [\"project falcon\", \"geheim\"]\n"
    "[[rule]]\nid = \"ww\"\nkind = \"keyword\"\nkeywords = [\"cat\"]\noptions = { whole_word = "
    "true }\n"
    "[[rule]]\nid = \"rx\"\nkind = \"regex\"\npatterns = ['ticket-[0-9]{4,6}']\n"
    "[[rule]]\nid = \"card\"\nkind = \"dlp\"\ndetector = \"payment_card\"\n"
    "[[rule]]\nid = \"iban\"\nkind = \"dlp\"\ndetector = \"iban\"\n"
    "[[rule]]\nid = \"jwt\"\nkind = \"dlp\"\ndetector = \"jwt\"\n"
    "[[rule]]\nid = \"key\"\nkind = \"dlp\"\ndetector = \"private_key\"\n"
    "[[rule]]\nid = \"ssn_near\"\nkind = \"dlp\"\ndetector = \"us_ssn\"\n"
    "near = { keywords = [\"ssn\"], within = 20 }\n";

const std::string mixed_text =
    "Hi, about Project Falcon: card 4111 1111 1111 1111, concat and cat; ticket-12345.\n"
    "Wire to DE89 3704 0044 0532 0130 00 - das ist GEHEIM. token "
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
    "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c end\n"
    "-----BEGIN PRIVATE "
    "KEY-----\nMC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n"
    "-----END PRIVATE KEY-----\nmy ssn: 123-45-6789, and another, further away from the word: "
    "234-56-7890.\n";

std::size_t at(std::string_view hay, std::string_view needle) {
  return hay.find(needle);
}

}  // namespace

TEST_CASE("scanner: hits carry rule, pack, part and exact byte ranges", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, mixed_rules);
  const auto r = scan_text(*p, mixed_text);
  CHECK(r.status == scan_status::ok);
  const std::string_view t = mixed_text;
  const auto jwt_b = at(t, "eyJhbGci");
  const auto key_b = at(t, "-----BEGIN");
  const std::string_view key_end = "-----END PRIVATE KEY-----";
  CHECK(briefs(r) == std::vector<brief>{
                         {"kw", part::text, at(t, "Project Falcon"), at(t, "Project Falcon") + 14},
                         {"card", part::text, at(t, "4111"), at(t, "4111") + 19},
                         {"ww", part::text, at(t, "cat;"), at(t, "cat;") + 3},
                         {"rx", part::text, at(t, "ticket-"), at(t, "ticket-") + 12},
                         {"iban", part::text, at(t, "DE89"), at(t, "DE89") + 27},
                         {"kw", part::text, at(t, "GEHEIM"), at(t, "GEHEIM") + 6},
                         {"jwt", part::text, jwt_b, at(t, " end\n")},
                         {"key", part::text, key_b, at(t, key_end) + key_end.size()},
                         {"ssn_near", part::text, at(t, "123-45"), at(t, "123-45") + 11},
                     });
  for (const auto& h : r.hits) {
    CHECK(h.pack_name == "t");
    CHECK(h.pack_version == "7");
    CHECK_FALSE(h.monitor);
  }
}

TEST_CASE("scanner: rule fields reach the hit; monitor mode marks hits", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const std::string rule =
      "[[rule]]\nid = \"kw\"\nkind = \"keyword\"\nkeywords = [\"falcon\"]\naction = \"block\"\n"
      "severity = \"critical\"\nmessage = \"No code names.\"\n";
  const auto enforce = scan_text(*pack_from(d, rule, "enforce"), "falcon");
  REQUIRE(enforce.hits.size() == 1);
  CHECK(enforce.hits[0].act == action::block);
  CHECK(enforce.hits[0].sev == severity::critical);
  CHECK(enforce.hits[0].message == "No code names.");
  CHECK_FALSE(enforce.hits[0].monitor);
  const auto monitor = scan_text(*pack_from(d, rule, "monitor"), "falcon");
  REQUIRE(monitor.hits.size() == 1);
  CHECK(monitor.hits[0].monitor);
  CHECK(monitor.hits[0].act == action::block);  // recorded as the rule says, not enforced
}

TEST_CASE("scanner: keyword options", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p =
      pack_from(d,
                "[[rule]]\nid = \"ci\"\nkind = \"keyword\"\nkeywords = [\"überweisung\", \"a.b\"]\n"
                "[[rule]]\nid = \"cs\"\nkind = \"keyword\"\nkeywords = [\"Falcon\"]\n"
                "options = { case_insensitive = false }\n"
                "[[rule]]\nid = \"ww\"\nkind = \"keyword\"\nkeywords = [\"privilégiée\"]\n"
                "options = { whole_word = true }\n");
  // Unicode case folding, punctuation taken literally ("a.b" is not a regex).
  CHECK(briefs(scan_text(*p, "ÜBERWEISUNG heute")) ==
        std::vector<brief>{{"ci", part::text, 0, 12}});
  CHECK(briefs(scan_text(*p, "axb a.b")) == std::vector<brief>{{"ci", part::text, 4, 7}});
  CHECK(scan_text(*p, "falcon").hits.empty());
  CHECK(scan_text(*p, "Falcon").hits.size() == 1);
  // Whole word, with letters outside ASCII counting as word characters.
  CHECK(scan_text(*p, "info privilégiée.").hits.size() == 1);
  CHECK(scan_text(*p, "privilégiéeé").hits.empty());
  CHECK(scan_text(*p, "éprivilégiée").hits.empty());
  CHECK(scan_text(*p, "«privilégiée»").hits.size() == 1);
}

TEST_CASE("scanner: count and proximity conditions", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(
      d,
      "[[rule]]\nid = \"three_cards\"\nkind = \"dlp\"\ndetector = \"payment_card\"\nmin_count = 3\n"
      "[[rule]]\nid = \"near_num\"\nkind = \"regex\"\npatterns = ['[0-9]{8}']\n"
      "near = { keywords = [\"account\", \"konto\"], within = 10 }\n");
  CHECK(scan_text(*p, "4111111111111111 5555555555554444").hits.empty());
  const auto three = scan_text(*p, "4111111111111111 5555555555554444 378282246310005");
  CHECK(three.hits.size() == 3);  // each card is reported, so each can be redacted
  // A failing Luhn number does not count toward the three.
  CHECK(scan_text(*p, "4111111111111111 5555555555554444 378282246310006").hits.empty());

  CHECK(scan_text(*p, "account no 12345678").hits.size() == 1);
  CHECK(scan_text(*p, "12345678 is my Konto").hits.size() == 1);
  CHECK(scan_text(*p, "account: the number you want is 12345678").hits.empty());  // 22 bytes away
  CHECK(scan_text(*p, "order 12345678").hits.empty());
}

TEST_CASE("scanner: scope by direction, app, transport, user, group and part",
          "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p =
      pack_from(d,
                "[[rule]]\nid = \"out\"\nkind = \"keyword\"\nkeywords = [\"falcon\"]\n"
                "scope = { direction = \"outbound\" }\n"
                "[[rule]]\nid = \"teams_web\"\nkind = \"keyword\"\nkeywords = [\"falcon\"]\n"
                "scope = { apps = [\"teams\"], transports = [\"websocket\"] }\n"
                "[[rule]]\nid = \"sales\"\nkind = \"keyword\"\nkeywords = [\"falcon\"]\n"
                "scope = { users = [\"alice\"], groups = [\"sales\", \"emea\"] }\n"
                "[[rule]]\nid = \"url_only\"\nkind = \"keyword\"\nkeywords = [\"falcon\"]\n"
                "scope = { parts = [\"url\", \"attachment_name\"] }\n");
  auto ids = [&](const scan_input& in) {
    std::vector<std::string> out;
    for (const auto& h : scan(*p, in).hits)
      out.push_back(h.rule_id + "@" + std::string(to_string(h.where)));
    return out;
  };
  scan_input in;
  in.text = "falcon";
  in.context.dir = direction::inbound;
  CHECK(ids(in).empty());
  in.context.dir = direction::outbound;
  CHECK(ids(in) == std::vector<std::string>{"out@text"});
  in.context.app = "Teams";
  in.context.transport = "websocket";
  CHECK(ids(in) == std::vector<std::string>{"out@text", "teams_web@text"});
  in.context.user = "alice";
  in.context.groups = {"engineering"};
  CHECK(ids(in) == std::vector<std::string>{"out@text", "teams_web@text"});
  in.context.groups = {"engineering", "emea"};
  CHECK(ids(in) == std::vector<std::string>{"out@text", "sales@text", "teams_web@text"});

  scan_input u;
  u.url = "https://x/falcon";
  u.attachments.push_back({"falcon.txt", "falcon"});
  // The default parts of a keyword rule are text and attachment content; url_only sees the URL
  // and the attachment name.
  CHECK(ids(u) == std::vector<std::string>{"url_only@attachment_name", "out@attachment_content",
                                           "url_only@url"});
}

TEST_CASE("scanner: streaming finds the same hits at every chunk boundary",
          "[signatures][scanner][stream]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, mixed_rules);
  scan_input whole;
  whole.attachments.push_back({"", mixed_text});
  const auto reference = briefs(scan(*p, whole));
  REQUIRE(reference.size() == 9);
  // Block mode on the same bytes as message text gives the same ranges.
  auto as_text = briefs(scan_text(*p, mixed_text));
  for (auto& b : as_text) std::get<1>(b) = part::attachment_content;
  CHECK(as_text == reference);

  const std::string_view t = mixed_text;
  for (std::size_t cut = 0; cut <= t.size(); ++cut) {
    attachment_stream s(p, {}, "", 0);
    REQUIRE(s.write(t.substr(0, cut)));
    REQUIRE(s.write(t.substr(cut)));
    const auto got = s.finish();
    INFO("split at " << cut);
    REQUIRE(got.status == scan_status::ok);
    REQUIRE(briefs(got) == reference);
  }
  // Byte by byte, the worst case for partial matches.
  attachment_stream s(p, {}, "", 0);
  for (char c : t) REQUIRE(s.write(std::string_view(&c, 1)));
  CHECK(briefs(s.finish()) == reference);
}

TEST_CASE("scanner: invalid UTF-8 in text is masked, ranges kept", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, mixed_rules);
  const std::string text = std::string("\xff\xfe bad \xc3 bytes then geheim");
  const auto r = scan_text(*p, text);
  CHECK(r.counters.invalid_utf8_parts == 1);
  CHECK(briefs(r) == std::vector<brief>{{"kw", part::text, text.size() - 6, text.size()}});
}

TEST_CASE("scanner: file rules on true type, name, size, sha256 and archive members",
          "[signatures][scanner][file]") {
  sigtest::temp_dir d;
  const std::string mz =
      std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", 16) +
      std::string(48, '\0');
  const auto p = pack_from(
      d,
      "[[rule]]\nid = \"exe\"\nkind = \"file\"\ntrue_types = [\"application/x-dosexec\"]\n"
      "[[rule]]\nid = \"scripts\"\nkind = \"file\"\ntrue_types = [\"text/x-*\"]\n"
      "[[rule]]\nid = \"dbl\"\nkind = \"file\"\nextensions = [\"pdf.exe\"]\n"
      "[[rule]]\nid = \"small_zip\"\nkind = \"file\"\nextensions = [\".zip\"]\nmax_size = 420\n"
      "[[rule]]\nid = \"hash\"\nkind = \"file\"\n"
      "sha256 = [\"2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824\"]\n"
      "[[rule]]\nid = \"member\"\nkind = \"file\"\narchive_member_names = [\"*.exe\"]\n"
      "[[rule]]\nid = \"member_type\"\nkind = \"file\"\n"
      "archive_member_types = [\"application/x-dosexec\"]\n");
  auto ids = [&](std::string_view name, std::string_view content) {
    scan_input in;
    in.attachments.push_back({name, content});
    std::vector<std::string> out;
    for (const auto& h : scan(*p, in).hits) {
      out.push_back(h.rule_id);
      CHECK(h.where == part::attachment_content);
      CHECK(h.begin == 0);
      CHECK(h.end == content.size());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(ids("holiday.jpg", mz) == std::vector<std::string>{"exe"});
  CHECK(ids("invoice.PDF.exe", "plain words") == std::vector<std::string>{"dbl"});
  CHECK(ids("x", "#!/bin/sh\necho hi\n") == std::vector<std::string>{"scripts"});
  CHECK(ids("x", "hello") == std::vector<std::string>{"hash"});  // sha256("hello")
  CHECK(ids("x", "hello!").empty());
  const std::string nested = from_base64(nested_zip_b64);
  REQUIRE(nested.size() <= 420);
  REQUIRE(from_base64(five_zip_b64).size() > 420);
  // setup.exe sits inside inner.zip inside the attachment.
  CHECK(ids("bundle.zip", nested) ==
        std::vector<std::string>{"member", "member_type", "small_zip"});
  CHECK(ids("small.zip", from_base64(five_zip_b64)).empty());
}

TEST_CASE("scanner: archive limits are enforced and counted", "[signatures][scanner][file]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d,
                           "[[rule]]\nid = \"member\"\nkind = \"file\"\n"
                           "archive_member_names = [\"f4.txt\", \"*.exe\"]\n");
  scan_input in;
  const std::string five = from_base64(five_zip_b64);
  in.attachments.push_back({"a.zip", five});
  CHECK(scan(*p, in).hits.size() == 1);
  scan_limits lim;
  lim.archive_max_members = 3;
  const auto cut = scan(*p, in, lim);
  CHECK(cut.hits.empty());
  CHECK(cut.status == scan_status::limit_reached);
  CHECK(cut.counters.archive_limit == 1);

  const std::string nested = from_base64(nested_zip_b64);
  in.attachments[0].content = nested;
  CHECK(scan(*p, in).hits.size() == 1);
  lim = {};
  lim.archive_max_depth = 1;  // do not open inner.zip
  const auto shallow = scan(*p, in, lim);
  CHECK(shallow.hits.empty());
  CHECK(shallow.counters.archive_limit == 1);
  lim = {};
  lim.archive_max_bytes = 100;  // the attachment itself is larger
  const auto big = scan(*p, in, lim);
  CHECK(big.hits.empty());
  CHECK(big.status == scan_status::limit_reached);

  // Not an archive at all: no members, no error.
  in.attachments[0].content = "just text, not a zip";
  const auto plain = scan(*p, in);
  CHECK(plain.hits.empty());
  CHECK(plain.status == scan_status::ok);
}

TEST_CASE("scanner: app and user-agent rules", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(
      d,
      "[[rule]]\nid = \"p2p\"\nkind = \"app\"\napp_ids = [\"kazaa\"]\ncategories = [\"p2p\"]\n"
      "action = \"block\"\n"
      "[[rule]]\nid = \"old_ie\"\nkind = \"user_agent\"\nproduct = \"MSIE\"\nbelow = \"7\"\n"
      "[[rule]]\nid = \"old_ff\"\nkind = \"user_agent\"\nproduct = \"Firefox\"\nbelow = "
      "\"52.0.2\"\n");
  scan_input in;
  in.context.app = "kazaa";
  auto r = scan(*p, in);
  REQUIRE(r.hits.size() == 1);
  CHECK(r.hits[0].where == part::app);
  CHECK(r.hits[0].act == action::block);
  in.context.app = "limewire";
  in.context.app_category = "p2p";
  CHECK(scan(*p, in).hits.size() == 1);
  in.context.app = "teams";
  in.context.app_category = "im";
  CHECK(scan(*p, in).hits.empty());

  auto ua = [&](std::string s) {
    scan_input u;
    u.context.user_agent = std::move(s);
    return briefs(scan(*p, u));
  };
  const std::string ie6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
  CHECK(ua(ie6) ==
        std::vector<brief>{{"old_ie", part::user_agent, ie6.find("6.0"), ie6.find("6.0") + 3}});
  CHECK(ua("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)").empty());
  CHECK(ua("Mozilla/4.0 (compatible; MSIE 10.0; Windows NT 6.1)").empty());  // numeric, not text
  CHECK(ua("Mozilla/5.0 Gecko/20100101 Firefox/52.0.1").size() == 1);
  CHECK(ua("Mozilla/5.0 Gecko/20100101 Firefox/52.0.2").empty());
  CHECK(ua("Mozilla/5.0 Gecko/20100101 NotFirefox/3.0").empty());  // not the product token
}

TEST_CASE("scanner: match limit is enforced and reported", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, "[[rule]]\nid = \"a\"\nkind = \"keyword\"\nkeywords = [\"ab\"]\n");
  const std::string many = [] {
    std::string s;
    for (int i = 0; i < 100; ++i) s += "ab ";
    return s;
  }();
  scan_input in;
  in.text = many;
  scan_limits lim;
  lim.max_matches_per_part = 10;
  const auto r = scan(*p, in, lim);
  CHECK(r.hits.size() == 10);
  CHECK(r.counters.matches_dropped == 90);
  CHECK(r.status == scan_status::limit_reached);
  CHECK(scan(*p, in).hits.size() == 100);
}

TEST_CASE("scanner: stream candidates longer than the history are dropped and counted",
          "[signatures][scanner][stream]") {
  sigtest::temp_dir d;
  const auto p =
      pack_from(d, "[[rule]]\nid = \"key\"\nkind = \"dlp\"\ndetector = \"private_key\"\n");
  std::string body;
  for (int i = 0; i < 200; ++i)
    body += "MC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n";
  const std::string pem = "-----BEGIN PRIVATE KEY-----\n" + body + "-----END PRIVATE KEY-----\n";
  scan_limits lim;
  lim.history_bytes = 1024;
  attachment_stream s(p, {}, "", 0, lim);
  for (std::size_t i = 0; i < pem.size(); i += 100)
    REQUIRE(s.write(std::string_view(pem).substr(i, 100)));
  const auto r = s.finish();
  CHECK(r.hits.empty());
  CHECK(r.counters.candidates_too_long >= 1);
  CHECK(r.status == scan_status::limit_reached);
}

TEST_CASE("scanner: compiled databases are cached on disk; a corrupt cache is rebuilt",
          "[signatures][cache]") {
  sigtest::temp_dir d;
  compile_options opts;
  opts.cache_dir = d.path / "cache";
  const auto first = pack_from(d, mixed_rules, "enforce", opts);
  CHECK_FALSE(loaded_from_cache(*first));
  std::vector<sigtest::fs::path> files;
  for (const auto& e : sigtest::fs::directory_iterator(opts.cache_dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  CHECK(files[0].filename().string().rfind(identity_of(*first).sha256 + "-", 0) == 0);

  const auto second = pack_from(d, mixed_rules, "enforce", opts);
  CHECK(loaded_from_cache(*second));
  CHECK(briefs(scan_text(*second, mixed_text)) == briefs(scan_text(*first, mixed_text)));

  // Flip bytes in the middle of the cached database.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(sigtest::fs::file_size(files[0]) / 2));
    f.write("garbage!", 8);
  }
  const auto third = pack_from(d, mixed_rules, "enforce", opts);
  CHECK_FALSE(loaded_from_cache(*third));
  CHECK(briefs(scan_text(*third, mixed_text)) == briefs(scan_text(*first, mixed_text)));
  // Truncated to nothing: rebuilt as well.
  sigtest::fs::resize_file(files[0], 3);
  CHECK_FALSE(loaded_from_cache(*pack_from(d, mixed_rules, "enforce", opts)));
  CHECK(loaded_from_cache(*pack_from(d, mixed_rules, "enforce", opts)));

  // A different pack gets its own file.
  (void)pack_from(d, "[[rule]]\nid = \"x\"\nkind = \"keyword\"\nkeywords = [\"x\"]\n", "enforce",
                  opts);
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : sigtest::fs::directory_iterator(opts.cache_dir)) ++n;
  CHECK(n == 2);
}

TEST_CASE("scanner: concurrent scans of one pack", "[signatures][scanner]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, mixed_rules);
  const auto reference = briefs(scan_text(*p, mixed_text));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (briefs(scan_text(*p, mixed_text)) != reference) ++mismatches;
    });
  for (auto& th : threads) th.join();
  CHECK(mismatches == 0);
}

TEST_CASE("scanner: regex starts found by lookup agree with Vectorscan's own start tracking",
          "[signatures][scanner]") {
  sigtest::temp_dir d;
  // Bounded regexes take the lookup path in text (block) mode; the streaming database tracks
  // starts itself. Both must give the same leftmost ranges.
  const auto p = pack_from(d,
                           "[[rule]]\nid = \"r1\"\nkind = \"regex\"\npatterns = ['a{1,5}b']\n"
                           "[[rule]]\nid = \"r2\"\nkind = \"regex\"\npatterns = ['x[0-9]{1,3}y']\n"
                           "[[rule]]\nid = \"r3\"\nkind = \"regex\"\npatterns = ['é{1,4}z']\n"
                           "[[rule]]\nid = \"r4\"\nkind = \"regex\"\npatterns = ['^start']\n"
                           "[[rule]]\nid = \"r5\"\nkind = \"regex\"\npatterns = ['q[a-z]*w']\n");
  const std::string text = "start xaaab x12y éééz ü aab qabcw";
  const auto block = briefs(scan_text(*p, text));
  const auto a = [&](std::string_view s) { return text.find(s); };
  CHECK(block == std::vector<brief>{
                     {"r4", part::text, 0, 5},
                     {"r1", part::text, a("aaab"), a("aaab") + 4},
                     {"r2", part::text, a("x12y"), a("x12y") + 4},
                     {"r3", part::text, a("éééz"), a("éééz") + 7},
                     {"r1", part::text, text.rfind("aab"), text.rfind("aab") + 3},
                     {"r5", part::text, a("qabcw"), a("qabcw") + 5},
                     {"r1", part::text, a("abcw"), a("abcw") + 2},
                 });
  scan_input in;
  in.attachments.push_back({"", text});
  auto streamed = briefs(scan(*p, in));
  for (auto& b : streamed) std::get<1>(b) = part::text;
  CHECK(streamed == block);
}

TEST_CASE("scanner: random input never breaks a scan; chunking never changes stream hits",
          "[signatures][scanner][stream]") {
  sigtest::temp_dir d;
  std::vector<std::shared_ptr<const compiled_pack>> packs{pack_from(d, mixed_rules)};
  for (const char* n : {"baseline-dlp.toml", "secrets.toml", "malware-files.toml"})
    packs.push_back(load_pack(sigtest::packs_dir() / n));
  // Pieces that make candidates likely, glued with random bytes.
  const std::vector<std::string> pieces{
      "4111 1111 1111 1111",
      "5555-5555-5555-4444",
      "DE89 3704 0044 0532 0130 00",
      "123-45-6789",
      "-----BEGIN PRIVATE KEY-----\n",
      "MC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n",
      "-----END PRIVATE KEY-----",
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
      "AKIAIOSFODNN7EXAMPLE",
      "password=",
      "postgres://a:b@",
      "strictly confidential",
      "privilégiée",
      "geheim",
      "cat ",
      "ticket-1234",
      "ssn",
      " ",
      "\n",
      "\xc3",
      "\xff\xfe",
      std::string(1, '\0'),
      "é",
      "ü"};
  std::mt19937_64 rng(4242);
  for (int round = 0; round < 150; ++round) {
    std::string input;
    const std::size_t parts = 1 + rng() % 40;
    for (std::size_t i = 0; i < parts; ++i) {
      if (rng() % 3 == 0) {
        const std::size_t n = rng() % 8;
        for (std::size_t k = 0; k < n; ++k) input += static_cast<char>(rng() % 256);
      } else {
        input += pieces[rng() % pieces.size()];
      }
    }
    for (const auto& p : packs) {
      INFO("round " << round << " pack " << identity_of(*p).name);
      scan_input in;
      in.text = input;
      in.url = input;
      in.attachments.push_back({input, input});
      const auto r = scan(*p, in);
      REQUIRE(r.status == scan_status::ok);
      for (const auto& h : r.hits) {
        REQUIRE(h.begin <= h.end);
        REQUIRE(h.end <= input.size());
      }
      // The same bytes streamed in three random chunks.
      std::vector<brief> whole;
      for (const auto& h : r.hits)
        if (h.where == part::attachment_content)
          whole.emplace_back(h.rule_id, h.where, h.begin, h.end);
      std::size_t a = rng() % (input.size() + 1), b = rng() % (input.size() + 1);
      if (a > b) std::swap(a, b);
      attachment_stream s(p, {}, "", 0);
      const std::string_view v = input;
      REQUIRE(s.write(v.substr(0, a)));
      REQUIRE(s.write(v.substr(a, b - a)));
      REQUIRE(s.write(v.substr(b)));
      std::vector<brief> chunked;
      for (const auto& h : s.finish().hits)
        if (h.where == part::attachment_content)
          chunked.emplace_back(h.rule_id, h.where, h.begin, h.end);
      REQUIRE(chunked == whole);
    }
  }
}

TEST_CASE("scanner: long candidate runs stay bounded", "[signatures][scanner]") {
  std::vector<std::shared_ptr<const compiled_pack>> packs;
  for (const char* n : {"baseline-dlp.toml", "secrets.toml"})
    packs.push_back(load_pack(sigtest::packs_dir() / n));
  const std::vector<std::string> inputs{
      std::string(1'000'000, '1'), "password=" + std::string(1'000'000, 'a'),
      "eyaaaaaaaaaa.eyaaaaaaaaaa." + std::string(1'000'000, 'a'),
      "-----BEGIN PRIVATE KEY-----\n" + std::string(1'000'000, 'A')};
  for (const auto& text : inputs) {
    for (const auto& p : packs) {
      scan_input in;
      in.text = text;
      in.attachments.push_back({"x", text});
      const auto r = scan(*p, in);
      CHECK(r.status != scan_status::engine_error);
      CHECK(r.hits.empty());
    }
  }
}
