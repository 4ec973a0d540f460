#pragma once
// Scanning a message and its attachments against a compiled pack (load_pack in
// signatures/engine.hpp). The pack is immutable and shared; every scan call keeps its state on
// the caller's stack (plus one Vectorscan scratch and one libmagic handle per thread), so any
// number of threads scan the same pack concurrently.
//
// Data path: scan() and attachment_stream never throw on bad input. A limit reached or an
// engine failure is reported in scan_result::status with what was found up to that point.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signatures/engine.hpp"
#include "signatures/pack.hpp"

namespace imcap::signatures {

// Who sends what, where: matched against each rule's scope.
struct scan_context {
  direction dir = direction::outbound;
  std::string app;           // classifier app id, e.g. "whatsapp-web", "kazaa"
  std::string app_category;  // e.g. "p2p", "im", "spyware"
  std::string transport;     // e.g. "websocket", "http-poll"
  std::string user;
  std::vector<std::string> groups;
  std::string user_agent;
};

struct attachment_ref {
  std::string_view name;
  std::string_view content;  // the complete bytes (use attachment_stream for chunks)
};

struct scan_input {
  std::string_view text;
  std::string_view url;
  std::vector<attachment_ref> attachments;
  scan_context context;
};

struct scan_limits {
  std::size_t max_matches_per_part = 100'000;        // raw Vectorscan matches kept per part
  std::size_t history_bytes = 64 * 1024;             // stream bytes kept for validators
  std::size_t magic_bytes = 64 * 1024;               // leading bytes given to libmagic
  std::size_t archive_max_bytes = 32 * 1024 * 1024;  // attachment bytes buffered for listing
  std::size_t archive_max_members = 1000;            // members listed per archive (all levels)
  std::size_t archive_max_depth = 3;                 // nested archives opened
};

struct hit {
  std::string rule_id;
  std::string pack_name;
  std::string pack_version;
  part where = part::text;
  std::size_t attachment = 0;  // index into scan_input::attachments for attachment parts
  std::size_t begin = 0;       // byte range [begin, end) in that part's bytes
  std::size_t end = 0;
  action act = action::log;
  severity sev = severity::medium;
  std::string message;
  bool monitor = false;  // the pack runs in monitor mode: record, do not enforce
  std::string detail;    // file rules: the true type / archive member that matched
};

enum class scan_status {
  ok,             // every part scanned completely
  limit_reached,  // a limit cut the scan short (see counters); hits so far are reported
  engine_error,   // Vectorscan, libmagic or libarchive failed; hits so far are reported
};

struct scan_counters {
  std::uint64_t matches_dropped = 0;      // raw matches over max_matches_per_part
  std::uint64_t candidates_too_long = 0;  // stream candidates older than history_bytes
  std::uint64_t archive_limit = 0;        // archives not (fully) listed because of a limit
  std::uint64_t invalid_utf8_parts = 0;   // text parts scanned with invalid bytes masked
};

struct scan_result {
  std::vector<hit> hits;
  std::vector<std::string> virus_names;  // ClamAV (filled by the ClamAV adapter)
  scan_status status = scan_status::ok;
  std::string error;  // engine_error: what failed
  scan_counters counters;
};

// Scans text, URL, attachment names and complete attachment contents.
scan_result scan(const compiled_pack& p, const scan_input& in, const scan_limits& limits = {});

// The texts of several messages that share one context (e.g. the events of one HTTP body).
// Result i is exactly what scan() returns for scan_input{.text = texts[i], .context = ctx}
// (hits, counters, status), but the texts are scanned together: one Vectorscan call per
// 256 KiB of text instead of one per message, which for short chat messages is most of the
// cost. Packs with anchored expressions (^, $, \A, \z, \Z, \G) are scanned message by message.
std::vector<scan_result> scan_texts(const compiled_pack& p, std::span<const std::string_view> texts,
                                    const scan_context& ctx, const scan_limits& limits = {});

// One attachment's content arriving in chunks: matches across chunk boundaries are found, the
// file rules see the whole file (sha256 and size incrementally, libmagic on the first bytes,
// archive listing on up to archive_max_bytes). Not thread-safe itself; one per attachment.
class attachment_stream {
 public:
  attachment_stream(std::shared_ptr<const compiled_pack> p, scan_context ctx, std::string name,
                    std::size_t attachment_index = 0, scan_limits limits = {});
  ~attachment_stream();
  attachment_stream(const attachment_stream&) = delete;
  attachment_stream& operator=(const attachment_stream&) = delete;

  // Feeds the next chunk. Returns false once the stream is in an error state (see finish()).
  bool write(std::string_view chunk);
  // Ends the attachment and returns its hits (attachment name hits included).
  scan_result finish();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

// The pack model a compiled pack was built from.
const pack& model_of(const compiled_pack& p);

// One must_match / must_not_match example run, as `imcapctl sigpack test` prints it.
struct example_outcome {
  std::string rule_id;
  bool must_match = true;
  std::size_t index = 0;  // position in the rule's list
  source_pos where;
  bool passed = false;
  std::string shown;  // the example, shortened for a table
};

// Runs every example of every rule against the whole pack (a must_match passes when that rule
// hits; a must_not_match when it does not).
std::vector<example_outcome> run_examples(const compiled_pack& p);

// The scan input an example stands for (its context made to fit the rule's scope unless the
// example says otherwise). Storage for the views lives in `ex`.
scan_input input_for_example(const rule& r, const example& ex);

}  // namespace imcap::signatures
