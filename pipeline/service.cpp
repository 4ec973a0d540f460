#include "pipeline/service.hpp"

// Ownership across async boundaries (see also service.hpp):
// - An exchange owns copies of everything it hands to another thread: ClamAV gets a
//   shared_ptr owner of the attachment bytes, the archive gets event records by value.
// - Completions from the ClamAV pool and the archive writer only touch a shared gather state
//   and post the coroutine's handler to its own executor; the coroutine never resumes on
//   those threads.
// - `core` is shared by the service and every exchange; it is thread-safe (mutexes around the
//   notice board and the disclaimer times; the session store locks itself).

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include <libxml/entities.h>
#include <spdlog/spdlog.h>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "metrics/metrics.hpp"
#include "modules/apps/classify_app.hpp"
#include "modules/content/codings.hpp"
#include "modules/registry.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "signatures/scanner.hpp"

namespace imcap::pipeline {

namespace asio = boost::asio;

// ---- shared state ------------------------------------------------------------------------

namespace {

using clock_fn = std::function<std::chrono::system_clock::time_point()>;

// Notices waiting for a session's next poll response.
class notice_board {
 public:
  void push(const std::string& session, modules::notice n, std::chrono::system_clock::time_point at,
            const policy_settings& p) {
    std::lock_guard lock(mu_);
    if (queues_.size() >= p.max_sessions && queues_.find(session) == queues_.end()) {
      queues_.erase(queues_.begin());  // bounded: some session loses its pending notices
    }
    auto& q = queues_[session];
    if (q.size() >= p.max_notices_per_session) q.pop_front();
    q.push_back({std::move(n), at});
    pending_.store(true, std::memory_order_relaxed);
  }

  bool has(const std::string& session) {
    if (!pending_.load(std::memory_order_relaxed)) return false;
    std::lock_guard lock(mu_);
    return queues_.count(session) != 0;
  }

  std::vector<modules::notice> take(const std::string& session,
                                    std::chrono::system_clock::time_point now,
                                    std::chrono::seconds ttl) {
    std::vector<modules::notice> out;
    std::lock_guard lock(mu_);
    auto it = queues_.find(session);
    if (it == queues_.end()) return out;
    for (auto& q : it->second) {
      if (now - q.at <= ttl) out.push_back(std::move(q.n));
    }
    queues_.erase(it);
    if (queues_.empty()) pending_.store(false, std::memory_order_relaxed);
    return out;
  }

 private:
  struct queued {
    modules::notice n;
    std::chrono::system_clock::time_point at;
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<queued>> queues_;
  std::atomic<bool> pending_{false};
};

// When each user pair last saw the disclaimer.
class disclaimer_times {
 public:
  // True (and remembered) when the pair has not seen it within `period`.
  bool due(const std::string& pair, std::chrono::system_clock::time_point now,
           std::chrono::seconds period, std::size_t max_entries) {
    std::lock_guard lock(mu_);
    auto it = last_.find(pair);
    if (it != last_.end() && now - it->second < period) return false;
    if (it == last_.end() && last_.size() >= max_entries) last_.erase(last_.begin());
    last_[pair] = now;
    return true;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::chrono::system_clock::time_point> last_;
};

}  // namespace

// Prometheus series (metrics/metrics.hpp, imcapd exports the global registry). Unlabelled
// ones are looked up once; labelled ones per use (a shared lock).
struct pipeline_metrics {
  metrics::registry& reg = metrics::registry::global();
  metrics::counter& not_chat = reg.counter_of("imcap_pipeline_not_chat_total",
                                              "Transactions answered from the preview as not chat");
  metrics::histogram& scan_seconds = reg.histogram_of(
      "imcap_pipeline_scan_seconds", "Signature and ClamAV scanning time per transaction",
      metrics::latency_buckets());
  metrics::histogram& archive_seconds = reg.histogram_of(
      "imcap_pipeline_archive_seconds", "Archive submit to commit per transaction (strict)",
      metrics::latency_buckets());
  metrics::gauge& archive_queue =
      reg.gauge_of("imcap_archive_queue_depth", "Events submitted to the archive, not committed");

  void verdict(std::string_view app, std::string_view verdict) {
    reg.counter_of("imcap_pipeline_verdicts_total", "Chat transactions by app and verdict",
                   {"app", "verdict"}, {std::string(app), std::string(verdict)})
        .inc();
  }
  void hit(std::string_view rule, std::string_view action, bool monitor) {
    reg.counter_of("imcap_pipeline_rule_hits_total", "Rule hits by rule, action and enforcement",
                   {"rule", "action", "mode"},
                   {std::string(rule), std::string(action), monitor ? "monitor" : "enforce"})
        .inc();
  }
  void decode_error(std::string_view transport) {
    reg.counter_of("imcap_pipeline_decode_errors_total", "Chat bodies that did not decode",
                   {"transport"}, {std::string(transport)})
        .inc();
  }
  void stage_failure(std::string_view stage, fail_mode m) {
    reg.counter_of("imcap_pipeline_stage_failures_total",
                   "Failed stages by stage and the fail policy applied", {"stage", "policy"},
                   {std::string(stage), std::string(to_string(m))})
        .inc();
  }
  void released(std::string_view app) {
    reg.counter_of("imcap_pipeline_released_total",
                   "Events passed because a reviewer released the same content", {"app"},
                   {std::string(app)})
        .inc();
  }
  void notice(std::string_view what) {
    reg.counter_of("imcap_pipeline_notices_total", "Notices queued and injected", {"what"},
                   {std::string(what)})
        .inc();
  }
};

struct core {
  pipeline_metrics metrics;
  // Pack scans of events carrying more than policy.inline_scan_bytes of attachments.
  asio::thread_pool scan_pool{2};
  std::atomic<std::shared_ptr<const policy_settings>> policy;
  dependencies deps;
  pipeline_stats stats;
  modules::memory_session_store sessions;
  notice_board notices;
  disclaimer_times disclaimers;
  // When the archive last failed (UTC microseconds, 0: not since the last success).
  std::atomic<std::int64_t> archive_failed_at{0};
  std::atomic<std::uint64_t> notice_seq{0};

  core(policy_settings p, dependencies d)
      : policy(std::make_shared<const policy_settings>(std::move(p))),
        deps(std::move(d)),
        sessions(policy.load()->max_sessions) {
    if (!deps.now) deps.now = [] { return std::chrono::system_clock::now(); };
  }

  void archive_failed(std::error_code ec) {
    archive_failed_at.store(
        ec ? std::chrono::duration_cast<std::chrono::microseconds>(deps.now().time_since_epoch())
                 .count()
           : 0,
        std::memory_order_relaxed);
  }
};

// ---- small helpers -------------------------------------------------------------------------

namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::int64_t micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

void fill_request_head(modules::request_head& out, const icap::http_head& h) {
  const auto& fields = h.fields.fields();
  out.headers.resize(fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i)
    out.headers.set(i, fields[i].name, fields[i].value);
  out.remake(h.request_method(), h.request_target());
}

std::string escape_html(std::string_view text) {
  std::string in(text);
  xmlChar* out = xmlEncodeSpecialChars(nullptr, reinterpret_cast<const xmlChar*>(in.c_str()));
  if (out == nullptr) return {};
  std::string s(reinterpret_cast<const char*>(out));
  xmlFree(out);
  return s;
}

bool icontains(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

// Replaces (or adds) a header in a raw HTTP head; `value` nullopt removes it.
void set_header(std::string& raw, std::string_view name, std::optional<std::string_view> value) {
  std::string out;
  out.reserve(raw.size() + 32);
  std::size_t pos = raw.find("\r\n");
  if (pos == std::string::npos) return;
  out.append(raw, 0, pos + 2);
  pos += 2;
  bool done = false;
  while (pos < raw.size()) {
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) eol = raw.size();
    std::string_view line(raw.data() + pos, eol - pos);
    if (line.empty()) break;
    auto colon = line.find(':');
    bool same =
        colon != std::string_view::npos && modules::ascii_iequals(line.substr(0, colon), name);
    if (!same) {
      out.append(line);
      out += "\r\n";
    } else if (value && !done) {
      out.append(name);
      out += ": ";
      out.append(*value);
      out += "\r\n";
      done = true;
    }
    pos = eol + 2;
  }
  if (value && !done) {
    out.append(name);
    out += ": ";
    out.append(*value);
    out += "\r\n";
  }
  out += "\r\n";
  raw = std::move(out);
}

// Number of UTF-8 characters in `s` (continuation bytes not counted).
std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool glob_match(std::string_view pattern, std::string_view id) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return id.substr(0, pattern.size()) == pattern;
  }
  return pattern == id;
}

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a)
    if (contains(b, x)) return true;
  return false;
}

// Runs start(i, done) for each of n items; `done(i, value)` may be called from any thread,
// exactly once per item. Resumes the coroutine on its own executor with all values.
template <class T, class Start>
asio::awaitable<std::vector<T>> gather(std::size_t n, Start start) {
  if (n == 0) co_return std::vector<T>{};
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::vector<T>)>(
      [n, ex, &start](auto handler) {
        using handler_t = decltype(handler);
        struct state {
          std::mutex mu;
          std::vector<T> values;
          std::size_t left = 0;
          std::optional<handler_t> h;
          asio::any_io_executor ex;
        };
        auto st = std::make_shared<state>();
        st->values.resize(n);
        st->left = n;
        st->h.emplace(std::move(handler));
        st->ex = ex;
        auto done = [st](std::size_t i, T v) {
          bool last = false;
          {
            std::lock_guard lock(st->mu);
            st->values[i] = std::move(v);
            last = --st->left == 0;
          }
          if (last) {
            asio::post(st->ex, [st]() mutable {
              auto h = std::move(*st->h);
              st->h.reset();
              std::move(h)(std::move(st->values));
            });
          }
        };
        for (std::size_t i = 0; i < n; ++i) start(i, done);
      },
      asio::use_awaitable);
}

archive::rule_hit to_rule_hit(const signatures::hit& h) {
  archive::rule_hit r;
  r.rule_id = h.rule_id;
  r.pack = h.pack_name;
  r.pack_version = h.pack_version;
  r.action = std::string(signatures::to_string(h.act));
  r.severity = std::string(signatures::to_string(h.sev));
  r.part = std::string(signatures::to_string(h.where));
  r.attachment = static_cast<std::uint32_t>(h.attachment);
  r.begin = h.begin;
  r.end = h.end;
  r.monitor = h.monitor;
  r.message = h.message;
  r.detail = h.detail;
  return r;
}

action from_pack(signatures::action a) {
  switch (a) {
    case signatures::action::log:
      return action::log;
    case signatures::action::warn:
      return action::warn;
    case signatures::action::redact:
      return action::redact;
    case signatures::action::block:
      return action::block;
    case signatures::action::quarantine:
      return action::quarantine;
  }
  return action::log;
}

action action_named(std::string_view s) {
  for (auto a : {action::allow, action::log, action::warn, action::redact, action::block,
                 action::quarantine})
    if (to_string(a) == s) return a;
  return action::log;
}

// Who is behind an event, for scopes and walls.
struct subject {
  std::string user;                 // proxy user
  std::vector<std::string> groups;  // header groups + directory of the user and the sender
};

// One event with what the pipeline found and decided.
struct judged {
  modules::chat_event ev;
  std::vector<signatures::hit> scan_hits;
  std::vector<archive::rule_hit> hits;
  std::vector<std::string> viruses;  // per attachment, comma-joined (archive)
  std::vector<std::vector<std::string>> attachment_viruses;
  action act = action::allow;
  std::string message;                                     // shown to the user
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // redact: byte ranges of ev.text
  bool stage_failed = false;
};

bool in_scope(const policy_rule& r, const modules::chat_event& ev, const subject& who) {
  if (!r.apps.empty() && !contains(r.apps, ev.app)) return false;
  if (!r.users.empty() && !contains(r.users, who.user) && !contains(r.users, ev.sender.id))
    return false;
  if (!r.groups.empty() && !intersects(r.groups, who.groups)) return false;
  if (!r.conversations.empty() && !contains(r.conversations, ev.conversation_id)) return false;
  if (r.dir == rule_direction::outbound && ev.direction != modules::direction::outbound)
    return false;
  if (r.dir == rule_direction::inbound && ev.direction != modules::direction::inbound) return false;
  return true;
}

const std::string& default_message(const policy_settings& p, action a) {
  switch (a) {
    case action::warn:
      return p.warn_message;
    case action::redact:
      return p.redact_message;
    case action::quarantine:
      return p.quarantine_message;
    default:
      return p.block_message;
  }
}

// Applies the policy to one event's scan hits (pure; unit of the verdict table).
void apply_policy(const policy_settings& p, const subject& who, judged& j) {
  struct enforced {
    action act;
    std::string message;
  };
  std::optional<enforced> strongest;
  auto enforce = [&](action a, const std::string& message) {
    if (a <= action::log) return;
    if (!strongest || a > strongest->act) strongest = enforced{a, message};
  };
  // App rules: a policy rule without `match` that is in scope.
  const policy_rule* app_rule = nullptr;
  for (const auto& r : p.rules) {
    if (r.match.empty() && in_scope(r, j.ev, who)) {
      app_rule = &r;
      break;
    }
  }
  bool app_allowed = app_rule != nullptr && app_rule->act == action::allow;
  for (const auto& h : j.scan_hits) {
    auto rec = to_rule_hit(h);
    action act = from_pack(h.act);
    std::string message;
    for (const auto& r : p.rules) {
      if (r.match.empty() || !in_scope(r, j.ev, who)) continue;
      if (std::any_of(r.match.begin(), r.match.end(),
                      [&](const std::string& m) { return glob_match(m, h.rule_id); })) {
        act = r.act;
        message = r.message;
        rec.detail = rec.detail.empty() ? "policy " + r.id : rec.detail + "; policy " + r.id;
        break;
      }
    }
    if (h.where == signatures::part::app && app_allowed) act = action::allow;
    // The pack's message is written for the user; a policy rule's replaces it.
    if (message.empty()) message = h.message;
    rec.action = std::string(to_string(act));
    bool enforce_it = !h.monitor && !p.monitor && act > action::log;
    rec.monitor = !enforce_it && act > action::log;
    if (enforce_it) {
      enforce(act, message);
      if (act == action::redact) {
        if (h.where == signatures::part::text && h.end > h.begin)
          j.spans.emplace_back(h.begin, h.end);
        else
          enforce(action::block, message);  // only text can be masked; the rest is refused
      }
    }
    j.hits.push_back(std::move(rec));
  }
  if (app_rule != nullptr && app_rule->act > action::allow) {
    archive::rule_hit rec;
    rec.rule_id = app_rule->id;
    rec.pack = "policy";
    rec.action = std::string(to_string(app_rule->act));
    rec.part = "app";
    rec.message = app_rule->message;
    rec.monitor = p.monitor && app_rule->act > action::log;
    if (!p.monitor) {
      if (app_rule->act == action::redact)
        enforce(action::block, app_rule->message);  // an app cannot be masked
      else
        enforce(app_rule->act, app_rule->message);
    }
    j.hits.push_back(std::move(rec));
  }
  // Ethical walls: outbound messages only, sender's groups against the recipients'.
  if (!p.walls.empty() && j.ev.kind == modules::event_kind::message &&
      j.ev.direction == modules::direction::outbound) {
    std::vector<std::string> recipient_groups;
    auto add = [&](const std::string& id) {
      if (id.empty()) return;
      if (auto it = p.directory.find(id); it != p.directory.end())
        recipient_groups.insert(recipient_groups.end(), it->second.begin(), it->second.end());
    };
    for (const auto& r : j.ev.recipients) add(r.id);
    add(j.ev.conversation_id);
    for (const auto& w : p.walls) {
      bool crossed =
          (intersects(w.from, who.groups) && intersects(w.to, recipient_groups)) ||
          (w.both_ways && intersects(w.to, who.groups) && intersects(w.from, recipient_groups));
      if (!crossed) continue;
      archive::rule_hit rec;
      rec.rule_id = w.id;
      rec.pack = "policy";
      rec.action = std::string(to_string(w.act));
      rec.part = "recipients";
      rec.message = w.message;
      rec.monitor = p.monitor;
      if (!p.monitor) enforce(w.act == action::redact ? action::block : w.act, w.message);
      j.hits.push_back(std::move(rec));
    }
  }
  // Viruses.
  for (std::size_t i = 0; i < j.attachment_viruses.size(); ++i) {
    for (const auto& v : j.attachment_viruses[i]) {
      archive::rule_hit rec;
      rec.rule_id = "clamav";
      rec.pack = "clamav";
      rec.action = std::string(to_string(p.virus_action));
      rec.part = "attachment_content";
      rec.attachment = static_cast<std::uint32_t>(i);
      rec.detail = v;
      rec.monitor = p.monitor;
      if (!p.monitor) enforce(p.virus_action, {});
      j.hits.push_back(std::move(rec));
    }
  }
  if (strongest) {
    j.act = std::max(j.act, strongest->act);
    if (j.message.empty())
      j.message = strongest->message.empty() ? default_message(p, j.act) : strongest->message;
  } else if (!j.hits.empty()) {
    j.act = std::max(j.act, action::log);
  }
}

// True for a UTF-8 continuation byte (10xxxxxx): not the first byte of a character.
bool utf8_continuation(char c) noexcept {
  return (static_cast<unsigned char>(c) & 0xC0u) == 0x80u;
}

}  // namespace

namespace detail {

// Match offsets are bytes; a span that starts or ends inside a multi-byte character is widened
// to the whole character, so the masked text stays UTF-8 (the JSON and XML rewrites refuse
// anything else, and the message would then be blocked instead of redacted).
std::string masked_text(const policy_settings& p, std::string_view text,
                        std::vector<std::pair<std::size_t, std::size_t>> spans) {
  for (auto& [b, e] : spans) {
    b = std::min(b, text.size());
    e = std::min(e, text.size());
    while (b > 0 && utf8_continuation(text[b])) --b;
    while (e < text.size() && utf8_continuation(text[e])) ++e;
  }
  std::sort(spans.begin(), spans.end());
  std::string out;
  std::size_t at = 0;
  for (auto [b, e] : spans) {
    b = std::min(b, text.size());
    e = std::min(e, text.size());
    if (e <= at) continue;
    b = std::max(b, at);
    out.append(text.substr(at, b - at));
    if (p.redact_per_character) {
      for (std::size_t k = utf8_chars(text.substr(b, e - b)); k > 0; --k) out += p.redact_mask;
    } else if (b != at || out.size() < p.redact_mask.size() ||
               out.compare(out.size() - p.redact_mask.size(), p.redact_mask.size(),
                           p.redact_mask) != 0) {
      out += p.redact_mask;
    }
    at = e;
  }
  out.append(text.substr(std::min(at, text.size())));
  return out;
}

}  // namespace detail

namespace {

using detail::masked_text;

archive::event_record to_record(const judged& j, const modules::request_head& head,
                                const icap::transaction& tx, const subject& who,
                                std::string_view verdict, std::string_view pack_version,
                                std::int64_t seen_us) {
  const auto& e = j.ev;
  archive::event_record r;
  r.seen_us = seen_us;
  r.kind = std::string(modules::to_string(e.kind));
  r.app = e.app;
  r.transport = e.transport;
  r.direction = std::string(modules::to_string(e.direction));
  r.session_key = e.session_key;
  r.conversation_id = e.conversation_id;
  r.sender_id = e.sender.id;
  r.sender_name = e.sender.display_name;
  r.sender_source = std::string(modules::to_string(e.sender.source));
  for (const auto& p : e.recipients) r.recipients.emplace_back(p.id, p.display_name);
  r.text = e.text;
  r.html = e.html;
  r.client_msg_id = e.client_msg_id;
  r.server_msg_id = e.server_msg_id;
  r.timestamp = e.timestamp;
  r.encrypted = e.encrypted;
  r.attributes = e.attributes;
  for (std::size_t i = 0; i < e.attachments.size(); ++i) {
    const auto& a = e.attachments[i];
    archive::attachment_record ar;
    ar.name = a.name;
    ar.media_type = a.media_type;
    ar.size = a.size;
    ar.sha256 = a.sha256;
    ar.ref = a.ref;
    if (i < j.attachment_viruses.size()) ar.virus_names = j.attachment_viruses[i];
    r.attachments.push_back(std::move(ar));
  }
  r.proxy_user = who.user;
  r.proxy_groups = who.groups;
  r.client_ip = tx.client.client_ip;
  r.url = head.target;
  if (auto ua = head.headers.get("User-Agent")) r.user_agent = std::string(*ua);
  r.icap_transaction = tx.id;
  r.verdict = std::string(verdict);
  r.hits = j.hits;
  r.pack_version = std::string(pack_version);
  if (verdict == "quarantine") r.quarantine = "held";
  return r;
}

std::string status_line(int status, std::string_view reason) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
}

// CORS for a cross-origin caller: without these the browser hides the error from the app.
void add_cors(std::string& head, const modules::request_head& req) {
  auto origin = req.headers.get("Origin");
  if (!origin || origin->empty()) return;
  head += "Access-Control-Allow-Origin: " + std::string(*origin) + "\r\n";
  head += "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
}

// Whether a browser navigates (show a page) rather than a script calling an API (JSON).
bool is_navigation(const modules::request_head& req) {
  if (auto mode = req.headers.get("Sec-Fetch-Mode"))
    return modules::ascii_iequals(*mode, "navigate");
  if (req.headers.get("X-Requested-With")) return false;
  auto accept = req.headers.get("Accept");
  return accept && icontains(*accept, "text/html");
}

icap::http_message response_message(const modules::http_reply& r,
                                    const modules::request_head& req) {
  std::string head = status_line(r.status, r.reason);
  bool have_ct = false;
  for (const auto& [n, v] : r.headers) {
    if (modules::ascii_iequals(n, "Content-Length")) continue;
    have_ct = have_ct || modules::ascii_iequals(n, "Content-Type");
    head += n + ": " + v + "\r\n";
  }
  if (!have_ct) head += "Content-Type: text/plain; charset=utf-8\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  head += "Cache-Control: no-store\r\n";
  add_cors(head, req);
  head += "X-Imcap-Verdict: block\r\n\r\n";
  icap::http_message m;
  m.res_head = std::move(head);
  m.body = r.body;
  return m;
}

// The generic block reply when the transport has no render_block of its own.
modules::http_reply fallback_block(const modules::request_head& req, const modules::notice& n,
                                   std::string_view rules) {
  modules::http_reply r;
  r.status = 403;
  r.reason = "Forbidden";
  if (is_navigation(req)) {
    r.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
    r.headers.emplace_back("Content-Security-Policy", "default-src 'none'");
    r.body =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Blocked</title></head>"
        "<body><h1>Blocked</h1><p>" +
        escape_html(n.text) + "</p><p><small>" + escape_html(n.id) + "</small></p></body></html>\n";
  } else {
    boost::json::object o;
    o["ok"] = false;
    o["error"] = n.what == modules::notice::kind::block ? "blocked_by_policy" : "policy";
    o["message"] = n.text;
    o["id"] = n.id;
    if (!rules.empty()) o["rules"] = rules;
    r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    r.body = boost::json::serialize(o);
  }
  return r;
}

}  // namespace

// ---- the exchange ------------------------------------------------------------------------

namespace {

class imcap_exchange final : public icap::exchange {
 public:
  // Classification only: most traffic is not chat and costs nothing more.
  imcap_exchange(std::shared_ptr<core> c, const icap::transaction& tx)
      : core_(std::move(c)), tx_(tx) {
    reqmod_ = tx.request.method == icap::method::reqmod;
    if (!tx.request.http_request) return;
    // Classified through one head per thread, refilled in place: most traffic is not chat,
    // and for it this allocates nothing. Only chat keeps a copy of its own.
    thread_local modules::request_head scratch;
    fill_request_head(scratch, *tx.request.http_request);
    decoder_ = modules::classify(scratch);
    if (decoder_ == nullptr && reqmod_) app_ = modules::classify_app(scratch);
    if (decoder_ != nullptr || app_) head_ = scratch;
  }

  // For chat: the policy snapshot, who is behind it, the correlation id.
  void start_chat() {
    policy_ = core_->policy.load();
    who_.user = tx_.client.user;
    if (!policy_->groups_header.empty()) {
      if (auto g = tx_.request.headers.get(policy_->groups_header)) split_groups(*g);
    }
    add_directory_groups(who_.user);
    if (!policy_->transaction_header.empty()) {
      if (auto v = tx_.request.headers.get(policy_->transaction_header)) xaction_ = std::string(*v);
    }
  }

  // Not chat (most traffic): answered from the heads, body unread, no coroutine.
  std::optional<icap::reply> on_heads() override {
    if (head_ && (decoder_ != nullptr || app_)) return std::nullopt;
    core_->stats.not_chat.inc();
    core_->metrics.not_chat.inc();
    return icap::reply::unmodified("pass");
  }

  asio::awaitable<icap::reply> on_preview(std::string_view preview, bool complete) override {
    if (!head_ || (decoder_ == nullptr && !app_)) {  // only when called without on_heads
      if (auto r = on_heads()) co_return std::move(*r);
    }
    start_chat();
    if (app_) co_return co_await judge_app();
    bool decodes =
        reqmod_ ? decoder_->decode_request != nullptr : decoder_->decode_response != nullptr;
    if (!reqmod_ && decoder_->inject_notice != nullptr) {
      if (decoder_->session_of != nullptr) poll_session_ = decoder_->session_of(*head_);
      if (poll_session_.empty() && decoder_->session_of_exchange != nullptr) {
        std::optional<std::string> k;
        if (!xaction_.empty()) k = core_->sessions.get("imcap:xaction:" + xaction_);
        if (!k) k = core_->sessions.get(client_key());
        if (k) poll_session_ = *k;
      }
      if (!poll_session_.empty() && core_->notices.has(poll_session_)) inject_ = true;
    }
    // Chat, but nothing here to decode or change: this direction carries no content for the
    // transport, or a bodiless response with no notice waiting.
    if ((!reqmod_ && !tx_.request.http_response) || (!decodes && !inject_) ||
        (!reqmod_ && !tx_.request.has_body() && !inject_))
      co_return finish(icap::reply::unmodified("allow"), decoder_->app, {});
    if (complete) {
      std::string body(preview);
      co_return co_await run(body);
    }
    co_return icap::reply::need_body();
  }

  asio::awaitable<icap::reply> on_body(std::string& body) override { co_return co_await run(body); }

  // A chat body over the server's max_buffered_body cannot be decoded: the decode stage's
  // fail policy decides.
  icap::reply on_oversize() override {
    core_->stats.decode_errors.fetch_add(1, std::memory_order_relaxed);
    core_->metrics.decode_error(decoder_ != nullptr ? decoder_->name : "-");
    if (!fail(policy_->on_decode_error, "decode", "body over limits.max_buffered_body"))
      return finish(icap::reply::unmodified("oversize"), decoder_ ? decoder_->app : "", {});
    auto n = make_notice(modules::notice::kind::block, policy_->block_message, {});
    auto m = response_message(fallback_block(*head_, n, "imcap.oversize"), *head_);
    return finish(icap::reply::replace(std::move(m), "block"), decoder_ ? decoder_->app : "",
                  "imcap.oversize");
  }

 private:
  void split_groups(std::string_view v) {
    const auto& sep = policy_->groups_separator;
    while (!v.empty()) {
      auto cut = v.find(sep);
      auto item = v.substr(0, cut);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty() && !contains(who_.groups, item)) who_.groups.emplace_back(item);
      if (cut == std::string_view::npos) break;
      v.remove_prefix(cut + sep.size());
    }
  }

  void add_directory_groups(const std::string& id) {
    if (id.empty()) return;
    auto it = policy_->directory.find(id);
    if (it == policy_->directory.end()) return;
    for (const auto& g : it->second)
      if (!contains(who_.groups, g)) who_.groups.push_back(g);
  }

  std::string pack_versions() const {
    std::string out;
    if (!packs_) return out;
    for (const auto& id : packs_->identities) {
      if (!out.empty()) out += ',';
      out += id.name + "@" + id.version;
    }
    return out;
  }

  std::string rules_of(const std::vector<judged>& js) const {
    std::string out;
    for (const auto& j : js)
      for (const auto& h : j.hits) {
        if (h.monitor && h.action == "log") continue;
        if (out.find(h.rule_id) != std::string::npos) continue;
        if (!out.empty()) out += ',';
        out += h.rule_id;
      }
    return out;
  }

  modules::notice make_notice(modules::notice::kind k, std::string text, std::string conversation) {
    modules::notice n;
    n.what = k;
    n.text = std::move(text);
    n.conversation_id = std::move(conversation);
    n.id = "imcap-" + std::to_string(tx_.id) + "-" +
           std::to_string(core_->notice_seq.fetch_add(1, std::memory_order_relaxed));
    n.timestamp = rfc3339(core_->deps.now());
    return n;
  }

  bool fail(fail_mode m, std::string_view stage, std::string_view why) {
    spdlog::warn("imcap tx {}: {} failed ({}): {}", tx_.id, stage, to_string(m), why);
    core_->metrics.stage_failure(stage, m);
    if (m == fail_mode::open) {
      core_->stats.failed_open.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    core_->stats.failed_closed.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Scans one event with every active pack, and its attachment bytes with ClamAV.
  asio::awaitable<void> scan(judged& j, const modules::app_match* app) {
    signatures::scan_input in;
    in.text = j.ev.text;
    in.url = head_->target;
    for (const auto& a : j.ev.attachments) in.attachments.push_back({a.name, a.bytes});
    auto& ctx = in.context;
    ctx.dir = j.ev.direction == modules::direction::inbound ? signatures::direction::inbound
                                                            : signatures::direction::outbound;
    ctx.app = j.ev.app;
    if (app != nullptr) ctx.app_category = std::string(modules::to_string(app->category));
    ctx.transport = j.ev.transport;
    ctx.user = who_.user;
    ctx.groups = who_.groups;
    if (auto ua = head_->headers.get("User-Agent")) ctx.user_agent = std::string(*ua);
    std::size_t attachment_bytes = 0;
    for (const auto& a : j.ev.attachments) attachment_bytes += a.bytes.size();
    const bool offload = attachment_bytes > policy_->inline_scan_bytes;
    if (packs_) {
      for (const auto& p : packs_->packs) {
        signatures::scan_result r;
        if (offload) {
          // Attachment bytes (libmagic, archive listing) can take milliseconds: not on the
          // I/O thread. co_spawn resumes this coroutine on its own executor afterwards.
          r = co_await asio::co_spawn(
              core_->scan_pool.get_executor(),
              [&]() -> asio::awaitable<signatures::scan_result> {
                co_return signatures::scan(*p, in);
              },
              asio::use_awaitable);
        } else {
          r = signatures::scan(*p, in);
        }
        if (r.status == signatures::scan_status::engine_error) {
          core_->stats.scan_errors.fetch_add(1, std::memory_order_relaxed);
          if (fail(policy_->on_scan_error, "scan", r.error))
            mark_stage_failure(j, "imcap.scan_error");
        }
        for (auto& h : r.hits) j.scan_hits.push_back(std::move(h));
      }
    }
    j.attachment_viruses.assign(j.ev.attachments.size(), {});
    auto* clam = core_->deps.clamav;
    if (clam == nullptr) co_return;
    std::vector<std::size_t> with_bytes;
    for (std::size_t i = 0; i < j.ev.attachments.size(); ++i)
      if (!j.ev.attachments[i].bytes.empty()) with_bytes.push_back(i);
    if (with_bytes.empty()) co_return;
    // The pool reads the bytes after we return: it gets its own copy, owned by the input.
    auto results = co_await gather<signatures::clamav_result>(
        with_bytes.size(), [&](std::size_t k, auto done) {
          const auto& a = j.ev.attachments[with_bytes[k]];
          auto bytes = std::make_shared<const std::string>(a.bytes);
          signatures::clamav_input ci;
          ci.bytes = {reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size()};
          ci.owner = bytes;
          ci.name = a.name;
          clam->scan_async(std::move(ci), [done, k](signatures::clamav_result r) mutable {
            done(k, std::move(r));
          });
        });
    for (std::size_t k = 0; k < results.size(); ++k) {
      auto& r = results[k];
      if (r.status == signatures::clamav_status::infected) {
        j.attachment_viruses[with_bytes[k]] = r.viruses;
      } else if (r.status == signatures::clamav_status::error) {
        core_->stats.scan_errors.fetch_add(1, std::memory_order_relaxed);
        if (fail(policy_->on_scan_error, "clamav", r.reason))
          mark_stage_failure(j, "imcap.clamav_unavailable");
      }
    }
  }

  void mark_stage_failure(judged& j, std::string rule) {
    archive::rule_hit h;
    h.rule_id = std::move(rule);
    h.pack = "imcap";
    h.action = "block";
    h.part = "stage";
    j.hits.push_back(std::move(h));
    j.act = std::max(j.act, action::block);
    j.stage_failed = true;
    if (j.message.empty()) j.message = policy_->block_message;
  }

  // Session tracking before the scan: learned identities and uploads referenced later.
  void track(judged& j) {
    auto& ev = j.ev;
    auto& st = core_->sessions;
    if (ev.kind == modules::event_kind::identity && !ev.session_key.empty() &&
        !ev.sender.id.empty()) {
      st.put("imcap:user:" + ev.session_key, ev.sender.id);
    }
    if (ev.sender.id.empty() && !ev.session_key.empty()) {
      if (auto u = st.get("imcap:user:" + ev.session_key)) {
        ev.sender.id = *u;
        ev.sender.source = modules::identity_source::learned;
      }
    }
    add_directory_groups(ev.sender.id);
    for (auto& a : ev.attachments) {
      if (a.ref.empty() || !a.bytes.empty()) continue;  // bytes here: scanned here
      auto rec = st.get("imcap:upload:" + a.ref);
      if (!rec) continue;
      // "sha256\tsize\tname\tmedia_type\tworst action\trule ids"
      std::vector<std::string> f;
      std::string_view v = *rec;
      while (true) {
        auto tab = v.find('\t');
        f.emplace_back(v.substr(0, tab));
        if (tab == std::string_view::npos) break;
        v.remove_prefix(tab + 1);
      }
      if (f.size() < 6 || (!a.sha256.empty() && a.sha256 != f[0])) continue;
      a.sha256 = f[0];
      if (!f[1].empty() && !a.size) a.size = std::strtoull(f[1].c_str(), nullptr, 10);
      if (a.name.empty()) a.name = f[2];
      if (a.media_type.empty()) a.media_type = f[3];
      if (!f[5].empty()) {
        archive::rule_hit h;
        h.rule_id = f[5];
        h.pack = "upload";
        h.action = f[4];
        h.part = "attachment_content";
        h.detail = "from upload " + a.ref;
        uploaded_hits_.push_back({&j, std::move(h)});
      }
    }
  }

  // Release pass (policy.release_pass_hours): an event policy would block or quarantine passes
  // when a reviewer released an archived event with the same pass key (archive::release_digest:
  // user, app, direction, text, attachment hashes) within the window. Its hits are kept and a
  // hit "imcap.released" (detail "released:<id>") says why it passed. A stage failure (scan or
  // ClamAV unavailable) is never released: nothing was judged. One indexed LMDB read, only for
  // events that would be refused.
  void apply_release(judged& j) {
    const auto& p = *policy_;
    if (p.release_pass.count() == 0 || j.act < action::block || j.stage_failed) return;
    const auto& store = core_->deps.archive;
    if (!store) return;
    const std::string& user = who_.user.empty() ? j.ev.sender.id : who_.user;
    if (user.empty()) return;
    std::vector<std::string> hashes;
    for (const auto& a : j.ev.attachments) hashes.push_back(a.sha256);  // as archived
    auto digest =
        archive::release_digest(modules::to_string(j.ev.direction), j.ev.text, std::move(hashes));
    auto now = core_->deps.now();
    auto since =
        micros(now) - std::chrono::duration_cast<std::chrono::microseconds>(p.release_pass).count();
    auto m = store->find_release(user, j.ev.app, digest, since);
    if (!m) return;
    std::string ref = "released:" + std::to_string(m->event_id);
    spdlog::info(
        "imcap tx {}: {} {} from {} passes: same content as event {}, released at {}", tx_.id,
        j.ev.app, verdict_word(j.act), user, m->event_id,
        rfc3339(std::chrono::system_clock::time_point(std::chrono::microseconds(m->released_us))));
    archive::rule_hit h;
    h.rule_id = "imcap.released";
    h.pack = "imcap";
    h.action = std::string(to_string(action::allow));
    h.part = "release";
    h.detail = ref + " (was " + std::string(verdict_word(j.act)) + ")";
    j.hits.push_back(std::move(h));
    j.ev.attributes.emplace_back("imcap.released", ref);
    j.act = action::allow;
    j.message.clear();
    j.spans.clear();
    core_->stats.released.fetch_add(1, std::memory_order_relaxed);
    core_->metrics.released(j.ev.app);
  }

  void remember_uploads(const judged& j) {
    for (const auto& a : j.ev.attachments) {
      if (a.ref.empty() || a.sha256.empty()) continue;
      std::string rules;
      action worst = action::allow;
      for (const auto& h : j.hits) {
        if (h.monitor) continue;
        auto act = action_named(h.action);
        if (act > action::log) {
          if (!rules.empty()) rules += ',';
          rules += h.rule_id;
          worst = std::max(worst, act);
        }
      }
      core_->sessions.put("imcap:upload:" + a.ref,
                          a.sha256 + "\t" + (a.size ? std::to_string(*a.size) : "") + "\t" +
                              a.name + "\t" + a.media_type + "\t" + std::string(to_string(worst)) +
                              "\t" + rules);
    }
  }

  // Archives the events the policy asks for; under strict durability waits for the commit.
  // Returns false when the archive stage failed.
  asio::awaitable<bool> archive_events(std::vector<judged>& js, std::string_view tx_verdict,
                                       bool whole_refused) {
    const auto& p = *policy_;
    if (p.archive == archive_scope::off) co_return true;
    std::vector<std::pair<archive::event_record, std::vector<archive::content>>> items;
    auto seen = micros(core_->deps.now());
    auto versions = pack_versions();
    for (auto& j : js) {
      if (p.archive == archive_scope::hits && j.hits.empty()) continue;
      std::string_view verdict = verdict_word(j.act);
      if (whole_refused) verdict = tx_verdict;
      auto rec = to_record(j, *head_, tx_, who_, verdict, versions, seen);
      std::vector<archive::content> contents;
      for (auto& a : j.ev.attachments) {
        if (a.bytes.empty()) continue;
        std::string sha = a.sha256.empty() ? modules::sha256_hex(a.bytes) : a.sha256;
        if (std::any_of(contents.begin(), contents.end(),
                        [&](const archive::content& c) { return c.sha256 == sha; }))
          continue;
        contents.push_back({std::move(sha), std::move(a.bytes)});
        a.bytes.clear();
      }
      items.emplace_back(std::move(rec), std::move(contents));
    }
    if (items.empty()) co_return true;
    auto store = core_->deps.archive;
    if (!store) {
      core_->stats.archive_errors.fetch_add(1, std::memory_order_relaxed);
      co_return !fail(p.on_archive_error, "archive",
                      core_->deps.archive_problem.empty() ? "archive unavailable"
                                                          : core_->deps.archive_problem);
    }
    bool strict = core_->deps.durability == archive::durability::strict;
    auto c = core_;
    if (!strict) {
      for (auto& [rec, contents] : items) {
        auto ec = store->submit(std::move(rec), std::move(contents),
                                [c](std::error_code e, std::uint64_t) {
                                  if (e) {
                                    c->stats.archive_errors.fetch_add(1, std::memory_order_relaxed);
                                    c->archive_failed(std::make_error_code(std::errc::io_error));
                                    spdlog::error("archive commit failed: {}", e.message());
                                  } else {
                                    c->stats.archived.fetch_add(1, std::memory_order_relaxed);
                                    c->archive_failed({});
                                  }
                                });
        if (ec) {
          core_->stats.archive_errors.fetch_add(1, std::memory_order_relaxed);
          c->archive_failed(std::make_error_code(std::errc::io_error));
          co_return !fail(p.on_archive_error, "archive", ec.message());
        }
      }
      co_return true;
    }
    auto archive_start = std::chrono::steady_clock::now();
    auto results = co_await gather<std::error_code>(items.size(), [&](std::size_t i, auto done) {
      auto& [rec, contents] = items[i];
      auto ec = store->submit(std::move(rec), std::move(contents),
                              [done, i](std::error_code e, std::uint64_t) mutable { done(i, e); });
      if (ec) done(i, ec);
    });
    core_->metrics.archive_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - archive_start).count());
    core_->metrics.archive_queue.set(static_cast<std::int64_t>(store->statistics().queued));
    std::error_code first;
    for (const auto& e : results) {
      if (e) {
        if (!first) first = e;
      } else {
        core_->stats.archived.fetch_add(1, std::memory_order_relaxed);
      }
    }
    core_->archive_failed(first);
    if (!first) co_return true;
    core_->stats.archive_errors.fetch_add(1, std::memory_order_relaxed);
    co_return !fail(p.on_archive_error, "archive", first.message());
  }

  void count(action a) {
    auto& s = core_->stats;
    switch (a) {
      case action::allow:
      case action::log:
        s.allowed.fetch_add(1, std::memory_order_relaxed);
        break;
      case action::warn:
        s.warned.fetch_add(1, std::memory_order_relaxed);
        break;
      case action::redact:
        s.modified.fetch_add(1, std::memory_order_relaxed);
        break;
      case action::block:
        s.blocked.fetch_add(1, std::memory_order_relaxed);
        break;
      case action::quarantine:
        s.quarantined.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }

  icap::reply finish(icap::reply r, std::string_view app, std::string rules) {
    core_->metrics.verdict(app, r.verdict);
    r.app = std::string(app);
    r.rules = std::move(rules);
    return r;
  }

  // App-level policy for what no decoder reads (E2E web clients, greynet).
  asio::awaitable<icap::reply> judge_app() {
    packs_ = core_->deps.packs ? core_->deps.packs() : nullptr;
    modules::http_request hreq{*head_, {}};
    modules::limits lim;
    modules::exchange x{hreq, nullptr, tx_.client.user, tx_.client.client_ip, &core_->sessions,
                        lim};
    std::vector<judged> js(1);
    js[0].ev = modules::make_app_event(*app_, x);
    co_await scan(js[0], &*app_);
    apply_policy(*policy_, who_, js[0]);
    auto act = js[0].act;
    bool refused = act >= action::block;
    auto verdict = verdict_word(act >= action::redact && act < action::block ? action::log : act);
    // App events without a hit are not archived: an app like WhatsApp Web is recognised on
    // every request its page makes, and each would otherwise be a record and a commit.
    bool archived = js[0].hits.empty() || co_await archive_events(js, verdict, refused);
    if (!archived && !refused) {
      act = action::block;
      refused = true;
      js[0].message = policy_->block_message;
    }
    core_->stats.events.fetch_add(1, std::memory_order_relaxed);
    count(act);
    auto rules = rules_of(js);
    if (!refused) co_return finish(icap::reply::unmodified(std::string(verdict)), app_->app, rules);
    auto n = make_notice(modules::notice::kind::block, js[0].message, {});
    auto m = response_message(fallback_block(*head_, n, rules), *head_);
    co_return finish(icap::reply::replace(std::move(m), std::string(verdict_word(act))), app_->app,
                     rules);
  }

  // The session a notice for `ev` is queued under, or "" when the transport cannot show it.
  // The latest body-named session of this client, user, transport and host.
  std::string client_key() const {
    return "imcap:client:" + std::string(decoder_->name) + "\x1f" + tx_.client.client_ip + "\x1f" +
           tx_.client.user + "\x1f" + head_->host;
  }

  std::string notice_session(const modules::chat_event& ev) const {
    if (decoder_->inject_notice == nullptr) return {};
    if (decoder_->session_of != nullptr) {
      auto s = decoder_->session_of(*head_);
      if (!s.empty()) return s;
    }
    if (!body_session_.empty()) return body_session_;
    return ev.session_key;
  }

  void queue_notice(const std::string& session, modules::notice n) {
    if (session.empty()) return;
    core_->notices.push(session, std::move(n), core_->deps.now(), *policy_);
    core_->stats.notices_queued.fetch_add(1, std::memory_order_relaxed);
    core_->metrics.notice("queued");
  }

  // Re-applies the content coding and fixes the head's framing headers.
  std::string reencode(std::string& raw_head, std::string body, std::string_view coding) {
    if (!coding.empty()) {
      std::string encoded;
      if (!modules::content::encode_content(coding, body, encoded)) {
        body = std::move(encoded);
      } else {
        set_header(raw_head, "Content-Encoding", std::nullopt);
      }
    }
    set_header(raw_head, "Transfer-Encoding", std::nullopt);
    set_header(raw_head, "Content-Length", std::to_string(body.size()));
    return body;
  }

  asio::awaitable<icap::reply> blocked_request(const modules::exchange& x, const judged& j,
                                               action act, const std::string& rules) {
    auto kind = modules::notice::kind::block;
    auto n = make_notice(kind, j.message.empty() ? policy_->block_message : j.message,
                         j.ev.conversation_id);
    n.reply_to = modules::replies::call_id_of(j.ev);
    // A browser navigation gets a page whatever the transport: the user is looking at the
    // window, not at a script that would read the protocol's error.
    modules::http_reply r = decoder_->render_block != nullptr && !is_navigation(*head_)
                                ? decoder_->render_block(x, j.ev, n)
                                : fallback_block(*head_, n, rules);
    auto m = response_message(r, *head_);
    co_return finish(icap::reply::replace(std::move(m), std::string(verdict_word(act))),
                     decoder_->app, rules);
  }

  asio::awaitable<icap::reply> run(std::string& raw_body) {
    core_->stats.chat.fetch_add(1, std::memory_order_relaxed);
    packs_ = core_->deps.packs ? core_->deps.packs() : nullptr;
    const auto& p = *policy_;
    const icap::http_head& msg_head =
        reqmod_ ? *tx_.request.http_request : *tx_.request.http_response;
    std::string coding;
    if (auto ce = msg_head.fields.get("Content-Encoding")) coding = std::string(*ce);
    modules::limits lim;
    lim.max_decoded_bytes = p.max_decoded_bytes;

    modules::http_request hreq{*head_, {}};
    modules::http_response hres;
    std::string& body = reqmod_ ? hreq.body : hres.body;
    bool decode_failed = false;
    std::string decode_problem;
    if (!reqmod_) {
      hres.status = tx_.request.http_response->response_status();
      for (const auto& f : tx_.request.http_response->fields.fields())
        hres.headers.add(f.name, f.value);
    }
    modules::exchange x{
        hreq, reqmod_ ? nullptr : &hres, tx_.client.user, tx_.client.client_ip, &core_->sessions,
        lim};
    std::vector<modules::chat_event> events;
    // Undoing the coding and decoding: on the I/O thread for small bodies, on the scan pool
    // for large ones (multipart, decompression and JSON of megabytes take milliseconds).
    auto decode = [&] {
      if (coding.empty()) {
        body = raw_body;
      } else if (auto e = modules::content::decode_content(coding, raw_body, lim, body)) {
        decode_failed = true;
        decode_problem = e.message();
        return;
      }
      auto fn = reqmod_ ? decoder_->decode_request : decoder_->decode_response;
      if (fn == nullptr) return;
      auto e = fn(x, events);
      // A bodiless message that the decoder has nothing to say about is not an error.
      if (e && !(raw_body.empty() && events.empty())) {
        decode_failed = true;
        decode_problem = e.message();
      }
    };
    if (raw_body.size() > p.inline_scan_bytes) {
      co_await asio::co_spawn(
          core_->scan_pool.get_executor(),
          [&]() -> asio::awaitable<void> {
            decode();
            co_return;
          },
          asio::use_awaitable);
    } else {
      decode();
    }
    if (reqmod_ && decoder_->session_of_exchange != nullptr && !decode_failed) {
      // The session is named in this body only: remember it for the RESPMOD of the same
      // exchange, whose answer is where a notice can go.
      body_session_ = decoder_->session_of_exchange(x);
      if (!body_session_.empty()) {
        if (!xaction_.empty()) core_->sessions.put("imcap:xaction:" + xaction_, body_session_);
        // Without the xaction header: the client's latest session of this transport and host
        // (a second session from the same client and user may then get the other's notice).
        core_->sessions.put(client_key(), body_session_);
      }
    }
    std::vector<judged> js(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) js[i].ev = std::move(events[i]);
    bool refuse_all = false;
    std::string all_message;
    if (decode_failed) {
      core_->stats.decode_errors.fetch_add(1, std::memory_order_relaxed);
      core_->metrics.decode_error(decoder_->name);
      if (fail(p.on_decode_error, "decode", decode_problem)) {
        refuse_all = true;
        all_message = p.block_message;
      }
    }
    for (auto& j : js) track(j);
    auto scan_start = std::chrono::steady_clock::now();
    for (auto& j : js) {
      co_await scan(j, nullptr);
      apply_policy(p, who_, j);
    }
    if (!js.empty())
      core_->metrics.scan_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - scan_start).count());
    for (auto& [jp, h] : uploaded_hits_) {
      auto act = action_named(h.action);
      if (!p.monitor && act > action::log) {
        jp->act = std::max(jp->act, act == action::redact ? action::block : act);
        if (jp->message.empty()) jp->message = default_message(p, jp->act);
      }
      h.monitor = p.monitor;
      jp->hits.push_back(std::move(h));
    }
    for (auto& j : js) apply_release(j);
    for (auto& j : js) remember_uploads(j);

    action tx_act = refuse_all ? action::block : action::allow;
    for (const auto& j : js) tx_act = std::max(tx_act, j.act);

    // Which blocked events can be stripped out of a batch instead of refusing the request.
    bool can_strip = reqmod_ && !refuse_all && decoder_->strip != nullptr;
    if (can_strip) {
      for (const auto& j : js)
        if (j.act >= action::block && j.ev.text_at.empty()) can_strip = false;
    }
    bool whole_refused = reqmod_ && tx_act >= action::block && !can_strip;

    auto verdict = std::string(verdict_word(tx_act));
    if (!co_await archive_events(js, verdict, whole_refused)) {
      if (!whole_refused) {
        tx_act = std::max(tx_act, action::block);
        refuse_all = true;
        whole_refused = reqmod_;
        can_strip = false;
        all_message = p.block_message;
        verdict = std::string(verdict_word(tx_act));
      }
    }
    core_->stats.events.fetch_add(js.size(), std::memory_order_relaxed);
    count(tx_act);
    for (const auto& j : js)
      for (const auto& h : j.hits) core_->metrics.hit(h.rule_id, h.action, h.monitor);
    auto rules = rules_of(js);
    const std::string_view app = decoder_->app;

    // Notices: warnings, redactions, blocks stripped from a batch, the disclaimer.
    for (const auto& j : js) {
      if (j.ev.kind != modules::event_kind::message) continue;
      auto session = notice_session(j.ev);
      if (session.empty()) continue;
      if (j.act == action::warn || j.act == action::redact ||
          (can_strip && j.act >= action::block)) {
        auto kind = j.act == action::warn     ? modules::notice::kind::warn
                    : j.act == action::redact ? modules::notice::kind::redact
                                              : modules::notice::kind::block;
        auto n = make_notice(kind, j.message, j.ev.conversation_id);
        if (kind == modules::notice::kind::block) n.reply_to = modules::replies::call_id_of(j.ev);
        queue_notice(session, std::move(n));
      }
      if (p.disclaimer_period.count() > 0 && j.ev.direction == modules::direction::outbound) {
        std::string me = who_.user.empty() ? j.ev.sender.id : who_.user;
        if (core_->disclaimers.due(me + "\x1f" + j.ev.conversation_id, core_->deps.now(),
                                   p.disclaimer_period, p.max_sessions)) {
          queue_notice(session, make_notice(modules::notice::kind::disclaimer, p.disclaimer_message,
                                            j.ev.conversation_id));
        }
      }
    }

    if (reqmod_ && (refuse_all || whole_refused)) {
      judged none;
      const judged* worst = &none;
      for (const auto& j : js)
        if (j.act >= worst->act) worst = &j;
      if (refuse_all || worst == &none) {
        none.message = all_message.empty() ? p.block_message : all_message;
        none.ev.app = std::string(app);
        none.ev.transport = std::string(decoder_->name);
        worst = &none;
      }
      co_return co_await blocked_request(x, *worst, tx_act, rules);
    }
    if (!reqmod_ && refuse_all) {
      auto n = make_notice(modules::notice::kind::block, all_message, {});
      auto m = response_message(fallback_block(*head_, n, rules), *head_);
      co_return finish(icap::reply::replace(std::move(m), verdict), app, rules);
    }

    // Body changes: redactions, stripped frames, inbound blocks masked, notices injected.
    bool changed = false;
    std::string out = body;
    // Strip from the last event to the first, so earlier frame indexes stay valid.
    for (auto it = js.rbegin(); it != js.rend(); ++it) {
      auto& j = *it;
      if (reqmod_ && j.act >= action::block && can_strip) {
        if (auto e = decoder_->strip(out, j.ev.text_at)) {
          spdlog::warn("imcap tx {}: strip failed ({}); refusing the request", tx_.id, e.message());
          co_return co_await blocked_request(x, j, tx_act, rules);
        }
        changed = true;
        continue;
      }
      std::optional<std::string> replacement;
      if (j.act == action::redact && !j.spans.empty()) {
        replacement = masked_text(p, j.ev.text, j.spans);
      } else if (!reqmod_ && j.act >= action::block) {
        replacement = "[" + (j.message.empty() ? p.block_message : j.message) + "]";
      }
      if (!replacement) continue;
      if (!j.ev.html.empty()) *replacement = escape_html(*replacement);
      modules::decode_error e;
      if (j.ev.text_at.empty() || decoder_->rewrite == nullptr) {
        e = modules::decode_error(modules::errc::malformed_frame, "not rewritable");
      } else {
        e = decoder_->rewrite(out, j.ev.text_at, *replacement);
      }
      if (e) {
        spdlog::warn("imcap tx {}: rewrite at {} failed ({}); refusing", tx_.id,
                     modules::to_string(j.ev.text_at), e.message());
        if (reqmod_)
          co_return co_await blocked_request(x, j, std::max(tx_act, action::block), rules);
        auto n = make_notice(modules::notice::kind::block, p.block_message, {});
        auto m = response_message(fallback_block(*head_, n, rules), *head_);
        co_return finish(icap::reply::replace(std::move(m), "block"), app, rules);
      }
      changed = true;
    }
    if (inject_) {
      auto notices = core_->notices.take(poll_session_, core_->deps.now(), p.notice_ttl);
      for (auto& n : notices) {
        if (auto e = decoder_->inject_notice(out, x, n)) {
          // Not this answer (e.g. the "ok" to a POST where only GET polls carry messages):
          // the notice waits for the session's next one.
          spdlog::debug("imcap tx {}: notice kept for a later answer: {}", tx_.id, e.message());
          core_->notices.push(poll_session_, std::move(n), core_->deps.now(), p);
          continue;
        }
        core_->stats.notices_injected.fetch_add(1, std::memory_order_relaxed);
        core_->metrics.notice("injected");
        changed = true;
      }
    }
    if (!changed) co_return finish(icap::reply::unmodified(verdict), app, rules);

    icap::http_message m;
    std::string head = msg_head.raw;
    m.body = reencode(head, std::move(out), coding);
    if (reqmod_)
      m.req_head = std::move(head);
    else
      m.res_head = std::move(head);
    co_return finish(icap::reply::replace(std::move(m), verdict), app, rules);
  }

  std::shared_ptr<core> core_;
  const icap::transaction& tx_;
  std::shared_ptr<const policy_settings> policy_;
  std::shared_ptr<const signatures::active_packs> packs_;
  bool reqmod_ = true;
  std::optional<modules::request_head> head_;
  const modules::decoder* decoder_ = nullptr;
  std::optional<modules::app_match> app_;
  subject who_;
  bool inject_ = false;
  std::string poll_session_;
  std::string xaction_;       // the REQMOD/RESPMOD correlation id (policy.transaction_header)
  std::string body_session_;  // REQMOD: session_of_exchange of this request, when it has one
  std::vector<std::pair<judged*, archive::rule_hit>> uploaded_hits_;
};

}  // namespace

// ---- the service -------------------------------------------------------------------------

imcap_service::imcap_service(policy_settings settings, dependencies deps)
    : core_(std::make_shared<core>(std::move(settings), std::move(deps))) {
  info_.name = "imcap";
  info_.description = "imcap chat inspection (decode, scan, policy, archive)";
  if (!core_->deps.archive && core_->policy.load()->archive != archive_scope::off) {
    spdlog::error("/imcap: archive unavailable ({}); policy.on_archive_error = {}",
                  core_->deps.archive_problem, to_string(core_->policy.load()->on_archive_error));
  }
}

imcap_service::~imcap_service() = default;

std::unique_ptr<icap::exchange> imcap_service::open(const icap::transaction& tx) {
  return std::make_unique<imcap_exchange>(core_, tx);
}

std::string imcap_service::unhealthy() const {
  auto p = core_->policy.load();
  if (p->archive != archive_scope::off && p->on_archive_error == fail_mode::closed) {
    if (!core_->deps.archive)
      return "archive unavailable" + (core_->deps.archive_problem.empty()
                                          ? std::string()
                                          : ": " + core_->deps.archive_problem);
    // A failure is reported for a while after it happened, not until the next success: a
    // proxy that marked the service down sends no traffic that could prove it works again.
    auto at = core_->archive_failed_at.load(std::memory_order_relaxed);
    auto now =
        std::chrono::duration_cast<std::chrono::microseconds>(core_->deps.now().time_since_epoch())
            .count();
    if (at != 0 && now - at < std::int64_t{30'000'000}) return "archive failing";
  }
  return {};
}

void imcap_service::reload(policy_settings settings) {
  core_->policy.store(std::make_shared<const policy_settings>(std::move(settings)));
}

const pipeline_stats& imcap_service::stats() const noexcept {
  return core_->stats;
}

}  // namespace imcap::pipeline
