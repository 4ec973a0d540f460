#pragma once
// The [policy] section of imcapd.toml: what the /imcap service does with what it finds.
// icap/ keeps the raw tables (embedded defaults first, then the file) in config::extensions;
// this parser validates every key. conf/imcapd.toml documents each one with its default.
//
// Errors throw settings_error: "file:line:column: policy.key: reason".

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "icap/config.hpp"

namespace imcap::pipeline {

class settings_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What happens to a message, weakest first: the verdict of a message is the strongest action
// of its enforced hits.
enum class action : std::uint8_t {
  allow,       // nothing (a policy rule may exempt hits with it)
  log,         // recorded only
  warn,        // delivered; the user is coached
  redact,      // delivered with the matched spans masked (verdict "modify")
  block,       // not delivered; the client gets the protocol's error
  quarantine,  // blocked and held in the archive for a reviewer
};
std::string_view to_string(action a) noexcept;
// The verdict word for the access log and the archive: allow, warn, modify, block, quarantine.
std::string_view verdict_word(action a) noexcept;

enum class fail_mode : std::uint8_t {
  open,    // the stage's failure lets the message through (logged, counted)
  closed,  // the stage's failure blocks the message (logged, counted)
};
std::string_view to_string(fail_mode m) noexcept;

enum class archive_scope : std::uint8_t {
  all,   // every decoded event
  hits,  // only events with at least one rule hit
  off,   // nothing (the archive is not opened)
};

enum class rule_direction : std::uint8_t { any, outbound, inbound };

// A policy rule. With `match` it overrides the action of pack hits whose rule id matches one
// of the patterns ("dlp.card.single", "dlp.*", "*"); without it, it is an app rule: every event
// in scope gets a hit with this rule's id and action. The first rule that applies wins.
struct policy_rule {
  std::string id;
  action act = action::log;
  std::vector<std::string> match;          // pack rule ids; a trailing '*' matches a prefix
  std::vector<std::string> apps;           // empty: any app
  std::vector<std::string> users;          // proxy user or chat sender id; empty: anyone
  std::vector<std::string> groups;         // one in common with the user's groups; empty: any
  std::vector<std::string> conversations;  // conversation ids (channel, room, peer); empty: any
  rule_direction dir = rule_direction::any;
  std::string message;  // shown to the user instead of the default
};

// An ethical wall: members of `from` may not message members of `to` (and the reverse when
// both_ways). Recipients are the event's recipients and its conversation id, looked up in the
// directory.
struct wall {
  std::string id;
  std::vector<std::string> from;
  std::vector<std::string> to;
  bool both_ways = true;
  action act = action::block;
  std::string message;
};

struct policy_settings {
  bool monitor = false;  // record verdicts, enforce nothing
  archive_scope archive = archive_scope::all;
  std::string groups_header = "X-Authenticated-Groups";
  std::string groups_separator = ",";
  // ICAP request header carrying an id shared by the REQMOD and RESPMOD of one HTTP exchange
  // (Squid: adaptation_meta X-Imcap-Xaction "%master_xaction"). Transports whose session is
  // named only in the request body (BOSH, Bayeux, MSN) need it to find the session of a poll
  // answer. "" turns it off.
  std::string transaction_header = "X-Imcap-Xaction";
  std::string redact_mask = "\u2588";  // "█"
  bool redact_per_character = true;    // one mask per character of the span, else one per span
  std::string block_message = "This message was blocked by your organisation's chat policy.";
  std::string warn_message =
      "Your message was delivered, but it may contain sensitive information. "
      "Please check your organisation's chat policy.";
  std::string redact_message =
      "Parts of your message were removed by your organisation's chat policy.";
  std::string quarantine_message =
      "This message was held for review by your organisation's compliance team.";
  std::string disclaimer_message = "Conversations through this network are archived.";
  std::chrono::seconds disclaimer_period{0};  // 0: no disclaimer
  action virus_action = action::block;
  // After a reviewer releases a quarantined event, the same content from the same user in the
  // same app passes (verdict allow, archived with a hit "imcap.released") for this long after
  // the release instead of being blocked or quarantined again. 0: a release only marks the item.
  std::chrono::hours release_pass{24};
  fail_mode on_decode_error = fail_mode::open;
  fail_mode on_scan_error = fail_mode::closed;
  fail_mode on_archive_error = fail_mode::closed;
  std::chrono::seconds notice_ttl{600};
  std::size_t max_notices_per_session = 16;
  std::size_t max_sessions = 100'000;
  std::size_t max_decoded_bytes = 16u << 20;
  // Bodies larger than this are decoded, and events with more attachment bytes than this are
  // pack-scanned, on the pipeline's scan pool (2 threads) instead of the I/O thread.
  std::size_t inline_scan_bytes = 64u << 10;
  std::vector<policy_rule> rules;
  std::vector<wall> walls;
  std::map<std::string, std::vector<std::string>, std::less<>> directory;  // user -> groups
};

// Applies one [policy] table over `s`. `file` names the table's source in errors.
void apply_policy_table(const toml::table& section, const std::string& file, policy_settings& s);

// The [policy] tables icap kept for us (defaults, then the file), validated.
policy_settings policy_settings_of(const icap::config& cfg);

}  // namespace imcap::pipeline
