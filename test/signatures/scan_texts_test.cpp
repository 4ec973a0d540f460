// scan_texts (several message texts scanned with one Vectorscan call) against scan() run on
// each text alone: the results must be identical, hit for hit, on many generated messages with
// matches at the very start and end of texts, matches that would only exist across two texts,
// invalid UTF-8 (also cut short at a text's end), empty texts, texts larger than one batch,
// anchored packs (scanned text by text) and the shipped packs.

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "sig_test_util.hpp"
#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"

using namespace imcap::signatures;

namespace {

std::shared_ptr<const compiled_pack> pack_from(const sigtest::temp_dir& d,
                                               const std::string& rules) {
  return load_pack(d.write("p.toml", "name = \"t\"\nversion = \"1\"\n" + rules));
}

// Rules of every shape the batch path treats differently: ASCII literals (start = end - length),
// whole-word literals, a UTF-8 literal and UTF-8 regexes (Vectorscan reports their start),
// bounded regexes (start looked up), unbounded ones (text scanned alone when they match),
// patterns that can span the '\n' between texts, DLP detectors, proximity and counts.
const std::string rules =
    "[[rule]]\nid = \"kw\"\nkind = \"keyword\"\nkeywords = [\"geheim\", \"project falcon\", "
    "\"grüße\"]\n"
    "[[rule]]\nid = \"ww\"\nkind = \"keyword\"\nkeywords = [\"cat\"]\n"
    "options = { whole_word = true }\n"
    "[[rule]]\nid = \"rx\"\nkind = \"regex\"\npatterns = ['ticket-[0-9]{4,6}', 'end[0-9]{2}']\n"
    "[[rule]]\nid = \"wide\"\nkind = \"regex\"\npatterns = ['id[ :]+x[0-9]+']\n"
    "[[rule]]\nid = \"gap\"\nkind = \"regex\"\npatterns = ['foo\\s*bar']\n"
    "[[rule]]\nid = \"dot\"\nkind = \"regex\"\npatterns = ['q.{0,3}z']\n"
    "options = { dotall = true }\n"
    "[[rule]]\nid = \"uni\"\nkind = \"regex\"\npatterns = ['é[a-z]{1,3}']\n"
    "[[rule]]\nid = \"card\"\nkind = \"dlp\"\ndetector = \"payment_card\"\n"
    "[[rule]]\nid = \"iban\"\nkind = \"dlp\"\ndetector = \"iban\"\n"
    "[[rule]]\nid = \"near_num\"\nkind = \"regex\"\npatterns = ['[0-9]{8}']\n"
    "near = { keywords = [\"account\"], within = 10 }\n"
    "[[rule]]\nid = \"zz\"\nkind = \"keyword\"\nkeywords = [\"zig\\nzäg\"]\n"
    "[[rule]]\nid = \"nl\"\nkind = \"keyword\"\nkeywords = [\"over\\nout\"]\n"
    "[[rule]]\nid = \"three\"\nkind = \"keyword\"\nkeywords = [\"zap\"]\nmin_count = 3\n";

// Fragments chosen so that texts begin and end with (parts of) matches.
const std::vector<std::string> fragments = {"geheim",
                                            "project falcon",
                                            "grüße",
                                            "Grüße",
                                            "cat",
                                            "cats",
                                            "ticket-12345",
                                            "ticket-1",
                                            "end42",
                                            "end",
                                            "42",
                                            "id: x77",
                                            "id",
                                            ": x9",
                                            "foo",
                                            "bar",
                                            "foo bar",
                                            "q",
                                            "z",
                                            "qz",
                                            "é",
                                            "éab",
                                            "ab",
                                            "4111 1111 1111 1111",
                                            "4111 1111",
                                            "1111 1111",
                                            "DE89 3704 0044 0532 0130 00",
                                            "account 12345678",
                                            "12345678",
                                            "account",
                                            "zap",
                                            "zap zap",
                                            "hello",
                                            "the",
                                            " ",
                                            "\xff",
                                            "\xc3",
                                            "\xe2\x82",
                                            "ok.",
                                            "x",
                                            "ticket-",
                                            "1234",
                                            "falcon",
                                            "over",
                                            "out",
                                            "over\nout",
                                            "zig",
                                            "zäg"};

std::vector<std::string> generate(std::mt19937& rng, std::size_t count) {
  std::vector<std::string> out;
  std::uniform_int_distribution<std::size_t> pick(0, fragments.size() - 1), parts(0, 5);
  for (std::size_t i = 0; i < count; ++i) {
    std::string t;
    const std::size_t n = parts(rng);  // 0: an empty text
    for (std::size_t k = 0; k < n; ++k) {
      if (!t.empty() && rng() % 2 == 0) t += ' ';
      t += fragments[pick(rng)];
    }
    out.push_back(std::move(t));
  }
  return out;
}

using brief = std::tuple<std::string, part, std::size_t, std::size_t, action>;

std::vector<brief> briefs(const scan_result& r) {
  std::vector<brief> out;
  for (const auto& h : r.hits) out.emplace_back(h.rule_id, h.where, h.begin, h.end, h.act);
  return out;
}

// Every text's batch result equals scan() on that text alone. Returns how many hits there were.
std::size_t check_same(const compiled_pack& p, const std::vector<std::string>& texts,
                       const scan_context& ctx = {}) {
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto batch = scan_texts(p, views, ctx);
  REQUIRE(batch.size() == texts.size());
  std::size_t hits = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    scan_input in;
    in.text = texts[i];
    in.context = ctx;
    const auto alone = scan(p, in);
    INFO("text " << i << ": [" << texts[i] << "]");
    CHECK(briefs(batch[i]) == briefs(alone));
    CHECK(batch[i].status == alone.status);
    CHECK(batch[i].counters.invalid_utf8_parts == alone.counters.invalid_utf8_parts);
    CHECK(batch[i].counters.matches_dropped == alone.counters.matches_dropped);
    hits += alone.hits.size();
  }
  return hits;
}

}  // namespace

TEST_CASE("scan_texts: same hits as scan() text by text on generated messages",
          "[signatures][scanner][batch]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, rules);
  std::mt19937 rng(4242);
  std::size_t hits = 0;
  for (int round = 0; round < 40; ++round) {
    std::uniform_int_distribution<std::size_t> count(1, 80);
    hits += check_same(*p, generate(rng, count(rng)));
  }
  CHECK(hits > 500);  // the generator does produce matches, so the comparison means something
}

TEST_CASE("scan_texts: a match that exists only across two texts is no hit",
          "[signatures][scanner][batch]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, rules);
  // Joined with a separator these would read "foo\nbar", "q\nz", "id\n: x9", "ticket-\n1234",
  // "over\nout" (a keyword with a line break), "zig\nzäg" (a UTF-8 one).
  const std::vector<std::string> texts = {"foo",  "bar",  "q",   "z",   "id",  ": x9", "ticket-",
                                          "1234", "over", "out", "zig", "zäg", "cat",  "cat"};
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto r = scan_texts(*p, views, {});
  REQUIRE(r.size() == texts.size());
  for (std::size_t i = 0; i < texts.size() - 2; ++i) {
    INFO("text " << i << ": " << texts[i]);
    CHECK(r[i].hits.empty());
  }
  // Matches at the very start and end of a text are found, with their exact ranges.
  CHECK(briefs(r[12]) == std::vector<brief>{{"ww", part::text, 0, 3, action::log}});
  CHECK(briefs(r[13]) == std::vector<brief>{{"ww", part::text, 0, 3, action::log}});
  check_same(*p, texts);
  const std::vector<std::string> joined = {"zig\nzäg", "over\nout"};
  CHECK(check_same(*p, joined) == 2);
}

TEST_CASE("scan_texts: invalid UTF-8, empty texts and a text larger than one batch",
          "[signatures][scanner][batch]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d, rules);
  std::string big(300 * 1024, 'a');
  big.replace(1000, 6, "geheim");
  big.replace(big.size() - 5, 5, "end42");
  const std::vector<std::string> texts = {"geheim \xff",
                                          "",
                                          "\xc3",
                                          "gr\xc3\xbc\xc3\x9f"
                                          "e",
                                          big,
                                          "ok",
                                          "\xe2\x82",
                                          "geheim"};
  CHECK(check_same(*p, texts) >= 5);
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto r = scan_texts(*p, views, {});
  CHECK(r[0].counters.invalid_utf8_parts == 1);
  CHECK(r[2].counters.invalid_utf8_parts == 1);
  CHECK(r[6].counters.invalid_utf8_parts == 1);
  CHECK(r[7].counters.invalid_utf8_parts == 0);
  CHECK(briefs(r[7]) == std::vector<brief>{{"kw", part::text, 0, 6, action::log}});
  CHECK(briefs(r[4]).size() == 2);
}

TEST_CASE("scan_texts: anchored packs are scanned text by text", "[signatures][scanner][batch]") {
  sigtest::temp_dir d;
  const auto p = pack_from(d,
                           "[[rule]]\nid = \"start\"\nkind = \"regex\"\npatterns = ['^hello']\n"
                           "[[rule]]\nid = \"stop\"\nkind = \"regex\"\npatterns = ['bye$']\n"
                           "[[rule]]\nid = \"kw\"\nkind = \"keyword\"\nkeywords = [\"geheim\"]\n");
  const std::vector<std::string> texts = {"hello you", "hello again bye", "say hello", "bye bye",
                                          "geheim"};
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto r = scan_texts(*p, views, {});
  CHECK(briefs(r[1]) == std::vector<brief>{{"start", part::text, 0, 5, action::log},
                                           {"stop", part::text, 12, 15, action::log}});
  CHECK(r[2].hits.empty());
  CHECK(briefs(r[3]) == std::vector<brief>{{"stop", part::text, 4, 7, action::log}});
  std::mt19937 rng(7);
  auto more = generate(rng, 200);
  more.insert(more.end(), texts.begin(), texts.end());
  check_same(*p, more);
}

TEST_CASE("scan_texts: the shipped packs give the same hits as scan()",
          "[signatures][scanner][batch]") {
  const std::vector<std::string> samples = {"card 4111 1111 1111 1111 exp 12/29",
                                            "IBAN DE89 3704 0044 0532 0130 00",
                                            "this is strictly confidential",
                                            "AKIAIOSFODNN7EXAMPLE",
                                            "ssn 536-22-8726",
                                            "Password=Tr0ub4dor3;",
                                            "postgres://admin:hunter2@db:5432/x",
                                            "nothing to see here",
                                            "4111 1111 1111 1111",
                                            "confidential"};
  std::mt19937 rng(99);
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    std::string t = samples[rng() % samples.size()];
    if (rng() % 2 == 0) t += " " + samples[rng() % samples.size()];
    if (rng() % 3 == 0) t = "x" + t;
    texts.push_back(std::move(t));
  }
  std::size_t hits = 0;
  for (const char* n : {"baseline-dlp.toml", "secrets.toml", "malware-files.toml", "im-apps.toml",
                        "greynet-legacy.toml"}) {
    INFO(n);
    const auto p = load_pack(sigtest::packs_dir() / n);
    scan_context ctx;
    ctx.app = "whatsapp-web";
    hits += check_same(*p, texts, ctx);
  }
  CHECK(hits > 300);
}

namespace {

// Which bytes are not part of a well-formed UTF-8 sequence (Unicode table 3-7), byte by byte:
// the reference the scanner's block-at-a-time check is compared with.
std::vector<std::size_t> invalid_bytes(std::string_view s) {
  std::vector<std::size_t> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = [&](std::size_t k) {
      return static_cast<unsigned>(static_cast<unsigned char>(s[k]));
    };
    const unsigned b0 = b(i);
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (b0 < 0x80)
      n = 1;
    else if (b0 >= 0xC2 && b0 <= 0xDF)
      n = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF)
      n = 3, lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    else if (b0 >= 0xF0 && b0 <= 0xF4)
      n = 4, lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k)
      ok = k == 1 ? (b(i + 1) >= lo && b(i + 1) <= hi) : (b(i + k) >= 0x80 && b(i + k) <= 0xBF);
    if (ok) {
      i += n;
    } else {
      out.push_back(i);
      ++i;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("scanner: invalid UTF-8 is masked exactly, byte by byte, alone and in batches",
          "[signatures][scanner][batch][utf8]") {
  sigtest::temp_dir d;
  // Masked bytes read as '?': a '?' keyword hits exactly at each of them.
  const auto p = pack_from(d, "[[rule]]\nid = \"q\"\nkind = \"keyword\"\nkeywords = [\"?\"]\n");
  const std::vector<std::string> pieces = {"a",
                                           "hello world, ",
                                           "0123456789abcdef",
                                           "\xc3\xa9",
                                           "\xc3\xbc\xc3\x9f",
                                           "\xc2\xbf",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "\xc3",
                                           "\xe2\x82",
                                           "\xf0\x9f",
                                           "\x80",
                                           "\xbf",
                                           "\xc0\xaf",
                                           "\xc1\xbf",
                                           "\xe0\x80\xaf",
                                           "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80",
                                           "\xf5",
                                           "\xff",
                                           "\xdf\xbf"};
  std::mt19937 rng(2026);
  std::vector<std::string> texts;
  for (int t = 0; t < 400; ++t) {
    std::string s;
    const std::size_t len = rng() % 220;
    while (s.size() < len) s += pieces[rng() % pieces.size()];
    texts.push_back(std::move(s));
  }
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto batch = scan_texts(*p, views, {});
  std::size_t masked = 0;
  for (std::size_t t = 0; t < texts.size(); ++t) {
    std::vector<brief> want;
    for (const std::size_t at : invalid_bytes(texts[t]))
      want.emplace_back("q", part::text, at, at + 1, action::log);
    masked += want.size();
    scan_input in;
    in.text = texts[t];
    const auto alone = scan(*p, in);
    INFO("text " << t);
    CHECK(briefs(alone) == want);
    CHECK(briefs(batch[t]) == want);
    CHECK(alone.counters.invalid_utf8_parts == (want.empty() ? 0u : 1u));
    CHECK(batch[t].counters.invalid_utf8_parts == alone.counters.invalid_utf8_parts);
  }
  CHECK(masked > 1000);
}
