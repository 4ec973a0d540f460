// The pack loader: every error path names file:line:column and the reason, all problems are
// collected, and a broken pack is never returned.

#include <catch2/catch.hpp>

#include "sig_test_util.hpp"
#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"

using namespace imcap::signatures;

namespace {

// Loads `text` as pack file p.toml and returns the problems (empty when it loaded).
std::vector<std::string> problems_of(const sigtest::temp_dir& d, const std::string& text) {
  const auto f = d.write("p.toml", text);
  try {
    (void)load_pack(f);
  } catch (const pack_error& e) {
    return e.problems();
  }
  return {};
}

const std::string head = "name = \"t\"\nversion = \"1\"\n";  // two lines

}  // namespace

TEST_CASE("loader: a correct pack loads with its identity", "[signatures][loader]") {
  sigtest::temp_dir d;
  const auto f = d.write("p.toml", head +
                                       "mode = \"monitor\"\n"
                                       "[[rule]]\nid = \"k\"\nkind = \"keyword\"\n"
                                       "keywords = [\"secret plan\"]\n");
  const auto p = load_pack(f);
  const auto id = identity_of(*p);
  CHECK(id.name == "t");
  CHECK(id.version == "1");
  CHECK(id.rules == 1);
  CHECK(id.sha256.size() == 64);
  CHECK(model_of(*p).mode == pack_mode::monitor);
  CHECK(model_of(*p).rules[0].options.case_insensitive);  // keywords default to caseless
}

TEST_CASE("loader: TOML syntax error names its position", "[signatures][loader]") {
  sigtest::temp_dir d;
  const auto f = d.write("p.toml", "name = \"t\"\nversion = \n");
  const auto pr = problems_of(d, "name = \"t\"\nversion = \n");
  REQUIRE(pr.size() == 1);
  CHECK(pr[0].rfind(f.string() + ":2:", 0) == 0);
}

TEST_CASE("loader: missing file", "[signatures][loader]") {
  sigtest::temp_dir d;
  const auto f = d.path / "absent.toml";
  try {
    (void)load_pack(f);
    FAIL("loaded a missing file");
  } catch (const pack_error& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0] ==
          f.string() + ":1:1: cannot read the pack file: No such file or directory");
  }
}

TEST_CASE("loader: empty pack and missing header keys", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  CHECK(problems_of(d, head) ==
        std::vector<std::string>{f + ":1:1: empty pack: no [[rule]] tables"});
  CHECK(problems_of(
            d,
            "description = \"x\"\n[[rule]]\nid = \"a\"\nkind = \"app\"\napp_ids = [\"kazaa\"]\n") ==
        std::vector<std::string>{f + ":1:1: missing required key 'name'",
                                 f + ":1:1: missing required key 'version'"});
}

TEST_CASE("loader: unknown keys, with hints for keys of another kind", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr =
      problems_of(d, head +
                         "colour = \"red\"\n"                                       // line 3
                         "[[rule]]\n"                                               // 4
                         "id = \"a\"\n"                                             // 5
                         "kind = \"keyword\"\n"                                     // 6
                         "keywords = [\"x\"]\n"                                     // 7
                         "detector = \"iban\"\n"                                    // 8
                         "speling = 1\n"                                            // 9
                         "scope = { direction = \"outbound\", app = [\"x\"] }\n");  // 10
  CHECK(pr == std::vector<std::string>{
                  f + ":3:1: unknown key 'colour' in the pack",
                  f + ":8:1: unknown key 'detector' in a keyword rule (dlp rules only)",
                  f + ":9:1: unknown key 'speling' in a keyword rule",
                  f + ":10:35: unknown key 'app' in scope",
              });
}

TEST_CASE("loader: wrong types", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr = problems_of(d,
                              "name = \"t\"\nversion = 3\n"
                              "[[rule]]\n"                            // 3
                              "id = \"a\"\n"                          // 4
                              "kind = \"keyword\"\n"                  // 5
                              "keywords = \"one\"\n"                  // 6: a single string is fine
                              "options = { whole_word = \"yes\" }\n"  // 7
                              "min_count = \"3\"\n"                   // 8
                              "must_match = [1]\n");                  // 9
  CHECK(pr == std::vector<std::string>{
                  f + ":2:11: 'version' must be a string, not an integer",
                  f + ":7:26: 'whole_word' must be true or false, not a string",
                  f + ":8:13: 'min_count' must be an integer, not a string",
                  f + ":9:15: 'must_match' items must be strings or tables, not an integer",
              });
}

TEST_CASE("loader: duplicate ids and bad ids", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const std::string rule_a = "[[rule]]\nid = \"a\"\nkind = \"app\"\napp_ids = [\"kazaa\"]\n";
  const auto pr =
      problems_of(d, head + rule_a + rule_a +
                         "[[rule]]\nid = \"has space\"\nkind = \"app\"\napp_ids = [\"x\"]\n");
  CHECK(pr == std::vector<std::string>{
                  f + ":8:6: duplicate rule id 'a' (first defined at line 4)",
                  f + ":12:6: rule id 'has space' must be 1-128 characters of letters, digits, "
                      "'_', '-' or '.'",
              });
}

TEST_CASE("loader: bad enum values list the valid ones", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr = problems_of(d, head +
                                     "mode = \"audit\"\n"                // 3
                                     "[[rule]]\n"                        // 4
                                     "id = \"a\"\n"                      // 5
                                     "kind = \"app\"\n"                  // 6
                                     "app_ids = [\"kazaa\"]\n"           // 7
                                     "action = \"deny\"\n"               // 8
                                     "severity = \"severe\"\n"           // 9
                                     "scope = { direction = \"up\" }\n"  // 10
                                     "[[rule]]\n"                        // 11
                                     "id = \"b\"\n"                      // 12
                                     "kind = \"phrase\"\n");             // 13
  CHECK(pr == std::vector<std::string>{
                  f + ":3:8: bad value 'audit' for 'mode' (expected one of: enforce, monitor)",
                  f + ":8:10: bad value 'deny' for 'action' (expected one of: log, warn, redact, "
                      "block, quarantine)",
                  f + ":9:12: bad value 'severe' for 'severity' (expected one of: low, medium, "
                      "high, critical)",
                  f + ":10:23: bad value 'up' for 'direction' (expected one of: any, outbound, "
                      "inbound)",
                  f + ":13:8: bad value 'phrase' for 'kind' (expected one of: keyword, regex, dlp, "
                      "file, app, user_agent)",
              });
}

TEST_CASE("loader: bad detector name", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr =
      problems_of(d, head + "[[rule]]\nid = \"a\"\nkind = \"dlp\"\ndetector = \"credit_card\"\n");
  CHECK(pr == std::vector<std::string>{
                  f + ":6:12: unknown detector 'credit_card' (expected one of: payment_card, iban, "
                      "us_ssn, private_key, aws_access_key, slack_token, github_token, "
                      "google_api_key, jwt, connection_string_password)"});
  const auto missing = problems_of(d, head + "[[rule]]\nid = \"a\"\nkind = \"dlp\"\n");
  CHECK(missing == std::vector<std::string>{f + ":3:1: rule 'a' has no 'detector'"});
}

TEST_CASE("loader: regexes Vectorscan rejects, with its message, all of them",
          "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr = problems_of(d, head +
                                     "[[rule]]\n"          // 3
                                     "id = \"r\"\n"        // 4
                                     "kind = \"regex\"\n"  // 5
                                     "patterns = [\n"      // 6
                                     "  'fine[0-9]+',\n"   // 7
                                     "  'a(b',\n"          // 8
                                     "  'x{2,1}',\n"       // 9
                                     "]\n");
  REQUIRE(pr.size() == 2);
  CHECK(pr[0] == f + ":8:3: rule 'r': Vectorscan rejects /a(b/: Missing close parenthesis for "
                     "group started at index 1.");
  CHECK(pr[1].rfind(f + ":9:3: rule 'r': Vectorscan rejects /x{2,1}/: ", 0) == 0);
}

TEST_CASE("loader: a regex that matches the empty buffer is rejected", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr =
      problems_of(d, head + "[[rule]]\nid = \"r\"\nkind = \"regex\"\npatterns = ['a*']\n");
  REQUIRE(pr.size() == 1);
  CHECK(pr[0].rfind(f + ":6:13: rule 'r': Vectorscan rejects /a*/", 0) == 0);
}

TEST_CASE("loader: rule-level requirements", "[signatures][loader]") {
  sigtest::temp_dir d;
  const std::string f = (d.path / "p.toml").string();
  const auto pr =
      problems_of(d,
                  head +
                      "[[rule]]\nid = \"k\"\nkind = \"keyword\"\nkeywords = []\n"     // 3-6
                      "[[rule]]\nid = \"f\"\nkind = \"file\"\naction = \"redact\"\n"  // 7-10
                      "[[rule]]\nid = \"u\"\nkind = \"user_agent\"\nproduct = \"MSIE\"\nbelow "
                      "= \"seven\"\n"                                                // 11-15
                      "[[rule]]\nid = \"s\"\nkind = \"file\"\nsha256 = [\"abc\"]\n"  // 16-19
                      "[[rule]]\nid = \"n\"\nkind = \"dlp\"\ndetector = \"iban\"\nmin_count = "
                      "0\n"                                                               // 20-24
                      "near = { keywords = [\"iban\"] }\n"                                // 25
                      "[[rule]]\nid = \"x\"\nkind = \"file\"\nextensions = [\".exe\"]\n"  // 26-29
                      "must_match = [{ content_hex = \"zz\" }]\n"                         // 30
                      "[[rule]]\nid = \"a\"\nkind = \"app\"\nscope = { parts = [\"text\"] "
                      "}\n");  // 31-34
  CHECK(pr == std::vector<std::string>{
                  f + ":6:12: 'keywords' is empty",
                  f + ":7:1: file rule 'f' has no condition (true_types, extensions, min_size, "
                      "max_size, sha256, archive_member_names or archive_member_types)",
                  f + ":10:10: action 'redact' needs a matched span: use it with keyword, regex "
                      "or dlp rules",
                  f + ":15:9: 'below' must be a version number like \"7\" or \"52.0\", not 'seven'",
                  f + ":19:11: 'abc' is not a sha256 digest (64 hexadecimal digits)",
                  f + ":24:13: 'min_count' must be between 1 and 10000, not 0",
                  f + ":25:8: 'near' needs 'within' (bytes)",
                  f + ":30:31: 'content_hex' is not valid hexadecimal",
                  f + ":31:1: app rule 'a' names no 'app_ids' and no 'categories'",
                  f + ":34:19: 'parts' applies to keyword, regex and dlp rules only",
              });
}

TEST_CASE("loader: a pack with one bad rule is not loaded at all", "[signatures][loader]") {
  sigtest::temp_dir d;
  const auto f =
      d.write("p.toml", head +
                            "[[rule]]\nid = \"good\"\nkind = \"keyword\"\nkeywords = [\"x\"]\n"
                            "[[rule]]\nid = \"bad\"\nkind = \"regex\"\npatterns = ['(']\n");
  std::shared_ptr<const compiled_pack> p;
  CHECK_THROWS_AS(p = load_pack(f), pack_error);
  CHECK(p == nullptr);
}
