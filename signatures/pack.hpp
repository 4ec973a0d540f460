#pragma once
// The signature-pack model: what a pack file says once parsed and checked (signatures/README.md
// documents the TOML format). Produced by parse_pack (signatures/loader.cpp), compiled by
// load_pack (signatures/engine.cpp). Plain values: copyable, immutable once built.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imcap::signatures {

enum class rule_kind {
  keyword,     // literal words/phrases, case-insensitive by default
  regex,       // Vectorscan regular expressions
  dlp,         // a built-in detector: candidate pattern + validator
  file,        // attachment properties: true type, extension, size, sha256, archive members
  app,         // the application the classifier recognised
  user_agent,  // a product below a version in the client's User-Agent
};

enum class dlp_detector {
  payment_card,                // Luhn + IIN ranges
  iban,                        // mod-97 + per-country length
  us_ssn,                      // area/group/serial rules
  private_key,                 // PEM private key block
  aws_access_key,              // AKIA/ASIA + 16
  slack_token,                 // xox[abpr]-...
  github_token,                // ghp_/gho_/ghu_/ghs_/ghr_/github_pat_
  google_api_key,              // AIza + 35
  jwt,                         // three base64url parts, header JSON with "alg"
  connection_string_password,  // password=... or scheme://user:pass@host
};

// Where in a message a rule looks, and where a hit was found.
enum class part {
  text,                // message text
  attachment_name,     // file name of an attachment
  attachment_content,  // attachment bytes (streamed)
  url,                 // request URL
  app,                 // context hit: the application (app rules)
  user_agent,          // context hit: the User-Agent header (user_agent rules)
};

enum class action {
  log,         // record only
  warn,        // coach the user, let it through
  redact,      // rewrite the matched span
  block,       // refuse the message
  quarantine,  // hold for a reviewer
};

enum class severity { low, medium, high, critical };

enum class direction {
  any,       // both directions
  outbound,  // sent by the user
  inbound,   // received by the user
};

enum class pack_mode {
  enforce,  // hits carry their action
  monitor,  // hits are recorded, nothing is enforced
};

std::string_view to_string(rule_kind k);
std::string_view to_string(dlp_detector d);
std::string_view to_string(part p);
std::string_view to_string(action a);
std::string_view to_string(severity s);
std::string_view to_string(direction d);
std::string_view to_string(pack_mode m);
std::optional<dlp_detector> detector_from_string(std::string_view s);

// Where something was written in the pack file (1-based).
struct source_pos {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct pattern {
  std::string text;  // keyword literal or regex, exactly as written
  source_pos where;
};

struct rule_options {
  bool case_insensitive = false;  // default true for keyword rules
  bool whole_word = false;
  bool dotall = false;  // regex: '.' matches newlines
};

struct near_condition {
  std::vector<std::string> keywords;  // case-insensitive literals
  std::uint32_t within = 0;           // bytes between the match and a keyword
};

struct file_condition {
  std::vector<std::string> true_types;  // MIME from libmagic; "text/x-*" prefix wildcard
  std::vector<std::string> extensions;  // lower-case, with dot: ".exe", ".pdf.exe"
  std::optional<std::uint64_t> min_size;
  std::optional<std::uint64_t> max_size;
  std::vector<std::string> sha256;                // lower-case hex
  std::vector<std::string> archive_member_names;  // fnmatch globs, case-insensitive
  std::vector<std::string> archive_member_types;  // MIME of a member's first bytes
};

struct ua_condition {
  std::string product;  // token before the version, e.g. "MSIE", "Firefox"
  std::string below;    // matches when the version is lower, e.g. "7", "52.0"
};

struct rule_scope {
  direction dir = direction::any;
  std::vector<std::string> apps;        // empty: any
  std::vector<std::string> transports;  // empty: any
  std::vector<std::string> users;       // empty: any
  std::vector<std::string> groups;      // empty: any; otherwise one in common
  std::vector<part> parts;              // empty: the kind's default parts
};

// A must_match / must_not_match example. A plain string becomes `text` (or the app id / the
// User-Agent / the attachment name for app, user_agent and file rules).
struct example {
  std::optional<std::string> text;
  std::optional<std::string> url;
  std::optional<std::string> attachment_name;
  std::optional<std::string> content;  // attachment bytes (content, content_hex, content_base64)
  std::optional<std::string> app;
  std::optional<std::string> app_category;
  std::optional<std::string> transport;
  std::optional<std::string> user;
  std::vector<std::string> groups;
  std::optional<direction> dir;
  std::optional<std::string> user_agent;
  source_pos where;
};

struct rule {
  std::string id;
  rule_kind kind = rule_kind::keyword;
  std::vector<pattern> patterns;  // keyword and regex rules
  rule_options options;
  std::optional<dlp_detector> detector;
  std::uint32_t min_count = 1;
  std::optional<near_condition> near;
  file_condition file;
  std::vector<std::string> app_ids;
  std::vector<std::string> app_categories;
  ua_condition ua;
  rule_scope scope;
  action act = action::log;
  severity sev = severity::medium;
  std::string message;
  std::vector<example> must_match;
  std::vector<example> must_not_match;
  source_pos where;
};

struct pack {
  std::filesystem::path file;
  std::string name;
  std::string version;
  std::string description;
  std::string author;
  pack_mode mode = pack_mode::enforce;
  std::vector<rule> rules;
  std::string sha256;  // hex digest of the file's bytes
};

// Parses and checks a pack from its bytes (`file` only names it in messages). Throws pack_error
// with every problem found; regexes are checked by load_pack, which compiles them.
pack parse_pack(std::string_view bytes, const std::filesystem::path& file);

// The parts a rule scans when its scope names none.
std::vector<part> effective_parts(const rule& r);

}  // namespace imcap::signatures
