// What pages and API share: argument parsing, time formatting, the dashboard and packs
// aggregations, the queue/search queries and the audited quarantine actions.

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "quarantine/handlers.hpp"
#include "signatures/pack.hpp"
#include "signatures/store.hpp"

namespace imcap::quarantine::detail {

namespace {

constexpr std::int64_t day_us = 86'400'000'000;
// The dashboard and packs page read at most this many events of the range (newest first).
constexpr std::size_t aggregate_limit = 100'000;

std::string find(const pairs& p, std::string_view key) {
  for (const auto& [k, v] : p)
    if (k == key) return v;
  return {};
}

std::string date_of(std::int64_t us) {
  return format_time(us).substr(0, 10);
}

template <class Map>
std::vector<std::pair<std::string, std::uint64_t>> top(const Map& m, std::size_t n) {
  std::vector<std::pair<std::string, std::uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

std::string request::arg(std::string_view key) const {
  return find(query, key);
}
std::string request::field(std::string_view key) const {
  return find(form, key);
}
std::vector<std::string> request::fields(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : form)
    if (k == key) out.push_back(v);
  return out;
}

std::string format_time(std::int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  auto num = [](std::string_view v, int& out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc{} && p == v.data() + v.size();
  };
  if (!num(s.substr(0, 4), y) || !num(s.substr(5, 2), m) || !num(s.substr(8, 2), d))
    return std::nullopt;
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(t) * 1'000'000;
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

response redirect(std::string location) {
  response r;
  r.status = 303;
  r.headers.emplace_back("Location", std::move(location));
  r.content_type = "text/plain; charset=utf-8";
  r.body = "see other\n";
  return r;
}

response json_response(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.body = std::move(body);
  return r;
}

time_range range_of(const context& c) {
  time_range r;
  const std::int64_t today = c.now_us - ((c.now_us % day_us) + day_us) % day_us;
  const auto to = parse_date(c.rq.arg("to"));
  const auto from = parse_date(c.rq.arg("from"));
  const std::int64_t to_day = to.value_or(today);
  std::int64_t from_day = from.value_or(to_day - 6 * day_us);
  if (from_day > to_day) from_day = to_day;
  if (to_day - from_day > 366 * day_us) from_day = to_day - 366 * day_us;
  r.from_us = from_day;
  r.to_us = to_day + day_us;
  r.from = date_of(from_day);
  r.to = date_of(to_day);
  return r;
}

dashboard_data dashboard_of(const context& c) {
  dashboard_data d;
  d.range = range_of(c);
  archive::query q;
  q.from_us = d.range.from_us;
  q.to_us = d.range.to_us;
  q.limit = aggregate_limit + 1;
  auto events = c.archive.search(q);
  if (events.size() > aggregate_limit) {
    d.truncated = true;
    events.resize(aggregate_limit);
  }
  d.events = events.size();
  for (std::int64_t t = d.range.from_us; t < d.range.to_us; t += day_us)
    d.days.push_back(date_of(t));
  std::map<std::string, std::uint64_t> app_count, verdicts, rules, users;
  std::map<std::string, std::set<std::string>> app_users;
  for (const auto& e : events) {
    const std::string app = e.app.empty() ? "(unknown)" : e.app;
    ++app_count[app];
    const std::string& user = !e.proxy_user.empty() ? e.proxy_user : e.sender_id;
    if (!user.empty()) {
      ++users[user];
      if (app_users[app].size() < 50) app_users[app].insert(user);
    }
    if (!e.verdict.empty()) ++verdicts[e.verdict];
    for (const auto& h : e.hits) ++rules[h.rule_id];
  }
  for (const auto& [app, n] : top(app_count, 12)) d.apps.push_back(app);
  d.messages.assign(d.apps.size(), std::vector<std::uint64_t>(d.days.size(), 0));
  d.attachments = d.messages;
  for (const auto& e : events) {
    const std::string app = e.app.empty() ? "(unknown)" : e.app;
    const auto a = std::find(d.apps.begin(), d.apps.end(), app);
    if (a == d.apps.end()) continue;
    const auto day = static_cast<std::size_t>((e.seen_us - d.range.from_us) / day_us);
    if (e.seen_us < d.range.from_us || day >= d.days.size()) continue;
    const auto ai = static_cast<std::size_t>(a - d.apps.begin());
    if (e.kind == "message") ++d.messages[ai][day];
    d.attachments[ai][day] += e.attachments.size();
  }
  for (const auto& app : d.apps) {
    const auto& us = app_users[app];
    d.app_users.emplace_back(app, std::vector<std::string>(us.begin(), us.end()));
  }
  d.verdicts = top(verdicts, 10);
  d.rules = top(rules, 10);
  d.users = top(users, 10);
  return d;
}

packs_data packs_of(const context& c) {
  packs_data p;
  archive::query q;
  q.limit = aggregate_limit;
  // Hits per (pack, rule) from the archive, with the newest version and mode seen.
  std::map<std::pair<std::string, std::string>, pack_row> seen;
  for (const auto& e : c.archive.search(q)) {
    if (p.judged_with.empty() && !e.pack_version.empty()) p.judged_with = e.pack_version;
    for (const auto& h : e.hits) {
      auto& row = seen[{h.pack, h.rule_id}];
      if (row.rule.empty()) {  // newest first: the first hit names the newest version
        row.pack = h.pack;
        row.version = h.pack_version;
        row.rule = h.rule_id;
        row.mode = h.monitor ? "monitor" : "enforce";
      }
      ++row.hits;
    }
  }
  if (!c.pack_store.empty()) {
    try {
      for (const auto& f : signatures::pack_store(c.pack_store).active_files()) {
        std::ifstream in(f.file, std::ios::binary);
        std::ostringstream bytes;
        bytes << in.rdbuf();
        if (!in) throw std::runtime_error("cannot read " + f.file.string());
        const auto pack = signatures::parse_pack(bytes.str(), f.file);
        active_pack a;
        a.name = pack.name;
        a.version = pack.version;
        a.mode = std::string(signatures::to_string(pack.mode));
        a.description = pack.description;
        a.rules = pack.rules.size();
        p.active.push_back(std::move(a));
        for (const auto& r : pack.rules) {
          pack_row row;
          row.pack = pack.name;
          row.version = pack.version;
          row.rule = r.id;
          row.mode = std::string(signatures::to_string(pack.mode));
          row.action = std::string(signatures::to_string(r.act));
          row.severity = std::string(signatures::to_string(r.sev));
          row.installed = true;
          if (auto it = seen.find({pack.name, r.id}); it != seen.end()) {
            row.hits = it->second.hits;
            seen.erase(it);
          }
          p.rows.push_back(std::move(row));
        }
      }
    } catch (const std::exception& e) {  // store_error, pack_error, I/O
      p.store_problem = e.what();
    }
  }
  for (auto& [k, row] : seen) p.rows.push_back(std::move(row));
  return p;
}

namespace {

void apply_common(const context& c, archive::query& q) {
  const auto& a = c.rq;
  q.user = a.arg("user");
  q.app = a.arg("app");
  q.rule = a.arg("rule");
  if (const auto f = parse_date(a.arg("from"))) q.from_us = *f;
  if (const auto t = parse_date(a.arg("to"))) q.to_us = *t + day_us;
  if (const auto b = parse_id(a.arg("before"))) q.before_id = *b;
  q.newest_first = true;
  q.limit = page_size + 1;  // one more tells whether there is a next page
}

}  // namespace

archive::query queue_query(const context& c) {
  archive::query q;
  apply_common(c, q);
  const std::string status = c.rq.arg("status");
  q.quarantine = (status == "released" || status == "deleted") ? status : "held";
  return q;
}

archive::query search_query(const context& c) {
  archive::query q;
  apply_common(c, q);
  q.peer = c.rq.arg("peer");
  q.conversation = c.rq.arg("conversation");
  q.verdict = c.rq.arg("verdict");
  q.text = c.rq.arg("text");
  return q;
}

std::vector<archive::audit_entry> audit_page(const context& c, std::uint64_t before,
                                             std::string_view actor, std::string_view action,
                                             std::size_t limit) {
  // Audit ids are assigned one after another from 1 and never removed, so the newest id is
  // found by doubling and bisection over "is there an entry after x".
  if (before == 0) {
    auto exists_after = [&](std::uint64_t x) { return !c.archive.audit(x, 1).empty(); };
    if (!exists_after(0)) return {};
    std::uint64_t lo = 0, hi = 1;  // exists_after(lo), !exists_after(hi) once found
    while (exists_after(hi) && hi < (std::uint64_t{1} << 62)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      (exists_after(mid) ? lo : hi) = mid;
    }
    before = hi + 1;  // hi is the newest id
  }
  std::vector<archive::audit_entry> out;
  constexpr std::uint64_t chunk = 500;
  std::uint64_t end = before;  // exclusive
  for (int round = 0; round < 40 && end > 1 && out.size() < limit; ++round) {
    const std::uint64_t start = end > chunk ? end - chunk : 1;  // inclusive
    auto part = c.archive.audit(start - 1, static_cast<std::size_t>(end - start));
    for (auto it = part.rbegin(); it != part.rend() && out.size() < limit; ++it) {
      if (it->id >= end) continue;
      if (!actor.empty() && it->actor != actor) continue;
      if (!action.empty() && it->action != action) continue;
      out.push_back(std::move(*it));
    }
    end = start;
  }
  return out;
}

void audit_export(const context& c, std::string target) {
  archive::audit_entry a;
  a.at_us = c.now_us;
  a.actor = c.who->user;
  a.action = "export";
  a.target = std::move(target);
  a.reason = "JSON API " + c.rq.path;
  (void)c.archive.add_audit(std::move(a));
}

std::string quarantine_action(const context& c, std::uint64_t id, std::string_view action,
                              std::string_view reason) {
  if (reason.find_first_not_of(" \t\r\n") == std::string_view::npos) return "a reason is required";
  if (reason.size() > 4000) return "the reason is longer than 4000 bytes";
  const auto e = c.archive.get(id);
  if (!e) return "no such item";
  if (e->quarantine.empty()) return "this event is not quarantined";
  if (e->quarantine == "deleted") return "this item is already deleted";
  if (action == "release" && e->quarantine == "released") return "this item is already released";
  archive::audit_entry why;
  why.at_us = c.now_us;
  why.actor = c.who->user;
  why.action = std::string(action);
  why.target = "event:" + std::to_string(id);
  why.reason = std::string(reason);
  const auto ec = c.archive.set_quarantine(id, action == "release" ? "released" : "deleted", why);
  if (ec) return ec.message();
  return {};
}

}  // namespace imcap::quarantine::detail
