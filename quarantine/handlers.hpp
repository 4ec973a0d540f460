#pragma once
// Internal to quarantine/: the request and response the MHD glue (server.cpp) hands to the
// route handlers (pages.cpp, api.cpp), and the handlers themselves.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "archive/archive.hpp"
#include "quarantine/auth.hpp"

namespace imcap::quarantine::detail {

using pairs = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method;
  std::string path;
  std::string address;                // client IP
  pairs query;                        // decoded GET arguments
  pairs form;                         // decoded application/x-www-form-urlencoded body
  std::vector<std::string> captures;  // the {} segments of the route pattern
  std::string session_cookie, login_cookie, csrf_header;
  bool tls = false;

  std::string arg(std::string_view key) const;
  std::string field(std::string_view key) const;
  std::vector<std::string> fields(std::string_view key) const;
};

struct response {
  unsigned status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  pairs headers;  // extra headers (Location, Set-Cookie, Content-Disposition)
};

struct context {
  const request& rq;
  const session* who;  // null on public routes
  archive::store& archive;
  std::int64_t now_us;
  session_table& sessions;
  login_throttle& throttle;
  const std::filesystem::path& pack_store;  // empty: not configured
};

using handler = response (*)(const context&);

// Helpers shared by pages and API.
std::string format_time(std::int64_t us);                             // "2026-11-23 15:04:05"
std::optional<std::int64_t> parse_date(std::string_view yyyy_mm_dd);  // 00:00 UTC
std::optional<std::uint64_t> parse_id(std::string_view s);
response redirect(std::string location);
response json_response(unsigned status, std::string body);

// Time range from the from/to GET arguments (dates, to inclusive); default the last 7 days.
struct time_range {
  std::int64_t from_us = 0, to_us = 0;
  std::string from, to;  // the dates as shown in the picker
};
time_range range_of(const context& c);

// The dashboard's numbers (pages and API share them).
struct dashboard_data {
  time_range range;
  std::size_t events = 0;
  bool truncated = false;         // more events in range than the dashboard reads
  std::vector<std::string> days;  // "YYYY-MM-DD", ascending
  std::vector<std::string> apps;  // by event count, descending
  std::vector<std::vector<std::uint64_t>> messages, attachments;            // [app][day]
  std::vector<std::pair<std::string, std::vector<std::string>>> app_users;  // app -> users
  std::vector<std::pair<std::string, std::uint64_t>> verdicts, rules, users;
};
dashboard_data dashboard_of(const context& c);

struct pack_row {
  std::string pack, version, rule, mode;  // mode: enforce | monitor
  std::string action, severity;           // from the installed pack (empty: archive only)
  bool installed = false;  // the rule is in an active pack of the store; else archive only
  std::uint64_t hits = 0;  // in the newest 100000 events (any version of the pack)
};
struct active_pack {
  std::string name, version, mode, description;
  std::size_t rules = 0;
};
struct packs_data {
  std::string judged_with;          // pack_version of the newest judged event
  std::vector<active_pack> active;  // from the pack store (when configured)
  std::string store_problem;        // why the store could not be read
  std::vector<pack_row> rows;       // installed rules first, then rules seen only in hits
};
packs_data packs_of(const context& c);

// The search the queue and archive pages run from their GET arguments.
archive::query queue_query(const context& c);
archive::query search_query(const context& c);
constexpr std::size_t page_size = 50;

// The audit trail newest first: entries with id < before (0: from the newest), matching actor
// and action when set, at most `limit`; scans back at most 20000 entries per call.
constexpr std::size_t page_rows = 200;
std::vector<archive::audit_entry> audit_page(const context& c, std::uint64_t before,
                                             std::string_view actor, std::string_view action,
                                             std::size_t limit);

// An API read that hands archived content out (search, conversation): audited as "export".
void audit_export(const context& c, std::string target);

// A quarantine action (release | delete) on one item with a reason, audited. Returns "" or
// the reason it was refused.
std::string quarantine_action(const context& c, std::uint64_t id, std::string_view action,
                              std::string_view reason);

// Pages (pages.cpp).
response page_login(const context& c);
response page_login_post(const context& c);
response page_logout(const context& c);
response page_style(const context& c);
response page_dashboard(const context& c);
response page_queue(const context& c);
response page_queue_bulk(const context& c);
response page_item(const context& c);
response page_item_release(const context& c);
response page_item_delete(const context& c);
response page_search(const context& c);
response page_conversation(const context& c);
response page_attachment_confirm(const context& c);
response page_attachment_download(const context& c);
response page_packs(const context& c);
response page_audit(const context& c);
response page_users(const context& c);
response page_error(const context& c, unsigned status, std::string_view message);

// JSON API (api.cpp).
response api_dashboard(const context& c);
response api_queue(const context& c);
response api_item(const context& c);
response api_item_release(const context& c);
response api_item_delete(const context& c);
response api_search(const context& c);
response api_conversation(const context& c);
response api_packs(const context& c);
response api_audit(const context& c);
response api_users(const context& c);

}  // namespace imcap::quarantine::detail
