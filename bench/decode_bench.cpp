// Decode throughput of modules/ on one thread, on two corpora (bench/README.md, "decode_bench"):
//  - fixture mix: every fixture request and response under test/modules/fixtures, replicated
//    and shuffled. Minimal test vectors (a few hundred bytes each).
//  - realistic mix: bodies generated with a fixed seed from fixture templates, grown to what
//    real clients send (longer texts, history/sync/poll answers with tens of messages, batched
//    frames, uploads of tens of KB to 2 MB), drawn with the per-recipe weights below. Every
//    generated body must decode without error to the number of events it was built for, or the
//    bench stops with exit status 1.
// Bodies are already content-decoded by http_message, so only decoding is timed: classify +
// decode_request, or decode_response, per transport and overall. The reference in the same run
// is memcpy of the same bodies in the same order; the table prints MB/s, events per second,
// bodies per second and the ratio to memcpy. Times are the thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID).
//
// usage: decode_bench [--corpus-mb N] [--min-seconds S] [--repeat R] [--realistic-bodies N]
//                     [--only fixture|realistic] [--transport NAME]

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "modules/http_message.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

namespace fs = std::filesystem;
using namespace imcap::modules;

// Seconds of CPU time this thread has used: on a shared machine, time the thread spent
// preempted by other processes does not count against either side of the comparison.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

namespace {

struct item {
  const decoder* d = nullptr;
  http_request req;
  std::optional<http_response> resp;  // set: time decode_response on it
  std::size_t expected = 0;           // realistic corpus: the events it was built to give
  bool upload = false;                // realistic corpus: a file upload body
  std::size_t bytes() const { return resp ? resp->body.size() : req.body.size(); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

// Every request (and response) file of every fixture that decodes without error.
std::vector<item> load_fixtures(const limits& lim) {
  std::vector<item> items;
  fs::path root = fs::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures";
  std::vector<fs::path> cases;
  for (const auto& fam : fs::directory_iterator(root))
    if (fam.is_directory())
      for (const auto& c : fs::directory_iterator(fam.path()))
        if (c.is_directory()) cases.push_back(c.path());
  std::sort(cases.begin(), cases.end());
  for (const auto& c : cases) {
    if (fs::exists(c / "expected_error.txt")) continue;  // malformed variants are not traffic
    std::vector<fs::path> reqs;
    for (const auto& f : fs::directory_iterator(c)) {
      auto n = f.path().filename().string();
      if (n.size() >= 12 && n.compare(n.size() - 12, 12, "request.http") == 0)
        reqs.push_back(f.path());
    }
    std::sort(reqs.begin(), reqs.end());
    memory_session_store sessions;
    for (const auto& r : reqs) {
      item it;
      if (parse_http_request(slurp(r), lim, it.req)) continue;
      it.d = classify(it.req.head);
      if (it.d == nullptr) continue;
      auto n = r.filename().string();
      auto resp_path = r.parent_path() / (n.substr(0, n.size() - 12) + "response.http");
      if (it.d->decode_request != nullptr && !it.req.body.empty()) items.push_back(it);
      if (fs::exists(resp_path) && it.d->decode_response != nullptr) {
        http_response resp;
        if (!parse_http_response(slurp(resp_path), lim, resp)) {
          item ri = it;
          ri.resp = std::move(resp);
          items.push_back(std::move(ri));
        }
      }
    }
  }
  return items;
}

// ---- the realistic corpus ----

// One kind of realistic body, grown from a fixture file. When `unit` is set, the unit (the
// JSON object starting at `unit`, brace-matched; or, with `unit_end`, the text up to and
// including `unit_end`) is one chat message and is repeated n times joined by `sep`. In every
// copy (or in the whole body when there is no unit) the text after `text_after` up to
// `text_end` is replaced by generated text. `upload` bodies get generated file content of
// 16 KiB to 2 MiB instead of chat text.
struct recipe {
  const char* file;  // under test/modules/fixtures; a *response.http pairs with its request
  const char* unit;
  const char* unit_end;
  const char* sep;
  const char* text_after;
  const char* text_end;
  int min_units, max_units;
  int weight;  // bodies per 1000 in the realistic mix (reasons in bench/README.md)
  bool upload = false;
};

// clang-format off
const recipe recipes[] = {
  // outbound: one message per request, as the web/desktop clients send it
  {"teams/send-richtext-file-mention/request.http", nullptr, nullptr, nullptr,
   "\"content\": \"<p>", "</p>", 1, 1, 150},
  {"slack/postmessage-webclient-blocks/request.http", nullptr, nullptr, nullptr,
   "\"text\": \"Hola ", "\"", 1, 1, 120},
  {"discord/send-json-then-multipart/01-request.http", nullptr, nullptr, nullptr,
   "\"content\": \"", "\"", 1, 1, 60},
  {"mattermost/upload-then-post/03-request.http", nullptr, nullptr, nullptr,
   "\"message\":\"", "\"", 1, 1, 40},
  {"rocketchat/send-then-post/01-request.http", nullptr, nullptr, nullptr,
   "\"msg\":\"", "\"", 1, 1, 30},
  {"engineio/v4-chat-and-binary/request.http", "42[\"chat message\"", "\x1e", "",
   "\"text\":\"", "\"", 1, 4, 50},
  {"bosh/two-messages/request.http", "<message to='bob@example.com' type='chat' id='m1'>",
   "</message>", "", "<body>", "<", 1, 4, 40},
  // uploads: multipart file bodies
  {"mattermost/upload-then-post/01-request.http", nullptr, nullptr, nullptr,
   "Content-Type: application/pdf\r\n\r\n", "\r\n------", 1, 1, 8, true},
  {"telegram/send-document-multipart/request.http", nullptr, nullptr, nullptr,
   "Content-Type: text/csv\r\n\r\n", "\r\n------", 1, 1, 4, true},
  // inbound: polls, history pages and sync answers carrying several to tens of messages
  {"teams/poll-eventmessages/response.http", "{\"id\": 1001", nullptr, ", ",
   "\"content\": \"<p>", "</p>", 1, 6, 150},
  {"matrix/sync/response.http", "{\"type\":\"m.room.message\",\"sender\":\"@bob:example.com\"",
   nullptr, ",", "\"body\":\"", "\"", 3, 40, 70},
  {"slack/history-gzip/response.http", "{\"type\": \"message\", \"user\": \"U0BOB\"", nullptr,
   ", ", "\"text\": \"", "\"", 15, 50, 40},
  {"discord/history/response.http", "{\"id\": \"1191234567890123999\"", nullptr, ", ",
   "\"content\": \"", "\"", 20, 50, 30},
  {"telegram/get-updates-gzip/response.http", "{\"update_id\": 900000001", nullptr, ", ",
   "\"text\": \"", "\"", 1, 20, 40},
  {"rocketchat/history/response.http", "{\"_id\":\"Bq1nW8xYz3Kd5sLp0\"", nullptr, ",",
   "\"msg\":\"", "\"", 20, 50, 20},
  {"zulip/events-poll/response.http", "{\"type\": \"message\", \"flags\": [], \"id\": 5", nullptr,
   ", ", "\"content\": \"<p>", "</p>", 1, 10, 40},
  {"googlechat/list-gzip/response.http", "{\"name\": \"spaces/AAAAxyz123/messages/M2\"", nullptr,
   ", ", "\"text\": \"", "\"", 10, 30, 20},
  {"webex/list-room/response.http", "{\"id\": \"MSG3\"", nullptr, ", ", "\"text\": \"", "\"",
   10, 50, 20},
  {"sockjs/ddp-changed-inbound/response.http", "{\\\"_id\\\":\\\"m1\\\"", nullptr, ",",
   "\\\"msg\\\":\\\"", "\\\"", 1, 10, 40},
};
// clang-format on

// End of the JSON object or array starting at `at` (one past its closing bracket), brace
// counting outside strings; npos when unbalanced. A unit that is itself JSON escaped inside a
// JSON string (\" quotes) is matched by counting its brackets alone.
std::size_t match_brackets(std::string_view s, std::size_t at) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = at; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '\\') {
      ++i;  // an escaped quote outside a string: the unit sits inside a JSON string (SockJS)
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// Chat text as people type it: mostly short lines, some paragraphs, a few long pastes. Plain
// ASCII words without quotes, backslashes or markup, so it needs no escaping in JSON or XML.
std::string chat_text(std::mt19937& rng) {
  static const char* const words[] = {
      "the",     "numbers",  "for",     "Q3",       "are",      "final",  "please",  "review",
      "before",  "Friday",   "meeting", "moved",    "to",       "room",   "ok",      "thanks",
      "invoice", "attached", "see",     "deploy",   "finished", "on",     "staging", "can",
      "you",     "check",    "the",     "customer", "list",     "and",    "send",    "it",
      "lunch",   "at",       "noon",    "draft",    "contract", "signed", "budget",  "approved"};
  std::uniform_int_distribution<int> bucket(0, 99);
  int b = bucket(rng);
  std::size_t len = b < 70   ? std::uniform_int_distribution<std::size_t>(8, 120)(rng)
                    : b < 95 ? std::uniform_int_distribution<std::size_t>(120, 600)(rng)
                             : std::uniform_int_distribution<std::size_t>(600, 3000)(rng);
  std::string t;
  std::uniform_int_distribution<std::size_t> w(0, std::size(words) - 1);
  while (t.size() < len) {
    if (!t.empty()) t += (w(rng) % 11 == 0) ? ", " : " ";
    t += words[w(rng)];
  }
  return t;
}

// File content of an upload: log-uniform between 16 KiB and 2 MiB, printable bytes.
std::string file_bytes(std::mt19937& rng) {
  double lg = std::uniform_real_distribution<double>(std::log(16384.0), std::log(2097152.0))(rng);
  auto n = static_cast<std::size_t>(std::exp(lg));
  std::string f(n, ' ');
  std::uniform_int_distribution<int> c(33, 126);
  for (auto& ch : f) ch = static_cast<char>(c(rng));
  return f;
}

// `in` with the text after `after` (up to `end`) replaced; false when a marker is missing.
bool replace_text(std::string& in, const recipe& r, const std::string& with) {
  std::size_t a = in.find(r.text_after);
  if (a == std::string::npos) return false;
  a += std::strlen(r.text_after);
  std::size_t e = in.find(r.text_end, a);
  if (e == std::string::npos) return false;
  in.replace(a, e - a, with);
  return true;
}

struct template_body {
  std::string prefix, unit, suffix;  // unit empty: the whole body is in prefix
};

bool split_template(const std::string& body, const recipe& r, template_body& t) {
  if (r.unit == nullptr) {
    t.prefix = body;
    return true;
  }
  std::size_t a = body.find(r.unit);
  if (a == std::string::npos) return false;
  std::size_t e;
  if (r.unit_end != nullptr) {
    e = body.find(r.unit_end, a);
    if (e == std::string::npos) return false;
    e += std::strlen(r.unit_end);
  } else {
    e = match_brackets(body, a);
    if (e == std::string_view::npos) return false;
  }
  t.prefix = body.substr(0, a);
  t.unit = body.substr(a, e - a);
  t.suffix = body.substr(e);
  return true;
}

struct result {
  double seconds = 0;
  std::size_t bytes = 0;
  std::size_t events = 0;
  std::size_t messages = 0;  // HTTP bodies decoded
};

// Runs the corpus until at least min_seconds have passed; the best of `repeat` runs.
template <typename F>
result measure(const std::vector<const item*>& corpus, double min_seconds, int repeat, F&& one) {
  result best;
  for (int r = 0; r < repeat; ++r) {
    result cur;
    double t0 = thread_seconds();
    do {
      for (const item* it : corpus) {
        cur.events += one(*it);
        cur.bytes += it->bytes();
        ++cur.messages;
      }
      cur.seconds = thread_seconds() - t0;
    } while (cur.seconds < min_seconds);
    if (best.seconds == 0 || static_cast<double>(cur.bytes) / cur.seconds >
                                 static_cast<double>(best.bytes) / best.seconds)
      best = cur;
  }
  return best;
}

}  // namespace

// Builds the realistic corpus: `count` bodies drawn from the recipes by weight, each checked
// to decode without error to its expected number of events. Empty on any failure (reported).
std::vector<item> build_realistic(const limits& lim, std::size_t count) {
  fs::path root = fs::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures";
  struct base {
    item it;  // the fixture exchange, unchanged
    template_body t;
    std::size_t events0 = 0;  // events of the unchanged fixture (its unit appearing once)
  };
  auto decode = [&](const item& it, std::vector<chat_event>& ev) -> decode_error {
    memory_session_store sessions;
    exchange x{it.req, it.resp ? &*it.resp : nullptr, "bench", "192.0.2.1", &sessions, lim};
    return it.resp ? it.d->decode_response(x, ev) : it.d->decode_request(x, ev);
  };
  std::vector<base> bases;
  std::vector<int> weights;
  for (const recipe& r : recipes) {
    std::string file = r.file;
    bool is_resp = file.size() >= 13 && file.compare(file.size() - 13, 13, "response.http") == 0;
    std::string req_file = is_resp ? file.substr(0, file.size() - 13) + "request.http" : file;
    base b;
    if (auto e = parse_http_request(slurp(root / req_file), lim, b.it.req)) {
      std::fprintf(stderr, "decode_bench: %s: %s\n", req_file.c_str(), e.message().c_str());
      return {};
    }
    b.it.d = classify(b.it.req.head);
    if (is_resp) {
      http_response resp;
      if (auto e = parse_http_response(slurp(root / file), lim, resp)) {
        std::fprintf(stderr, "decode_bench: %s: %s\n", file.c_str(), e.message().c_str());
        return {};
      }
      b.it.resp = std::move(resp);
    }
    std::vector<chat_event> ev;
    if (b.it.d == nullptr ||
        (is_resp ? b.it.d->decode_response : b.it.d->decode_request) == nullptr ||
        decode(b.it, ev)) {
      std::fprintf(stderr, "decode_bench: recipe %s does not decode as it is\n", r.file);
      return {};
    }
    b.events0 = ev.size();
    if (!split_template(b.it.resp ? b.it.resp->body : b.it.req.body, r, b.t)) {
      std::fprintf(stderr, "decode_bench: recipe %s: unit marker not found\n", r.file);
      return {};
    }
    bases.push_back(std::move(b));
    weights.push_back(r.weight);
  }
  std::mt19937 rng(20261123);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::vector<item> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t k = pick(rng);
    const recipe& r = recipes[k];
    const base& b = bases[k];
    item it = b.it;
    std::string body;
    std::size_t n = 1;
    if (b.t.unit.empty()) {
      body = b.t.prefix;
      if (!replace_text(body, r, r.upload ? file_bytes(rng) : chat_text(rng))) {
        std::fprintf(stderr, "decode_bench: recipe %s: text marker not found\n", r.file);
        return {};
      }
    } else {
      n = std::uniform_int_distribution<std::size_t>(static_cast<std::size_t>(r.min_units),
                                                     static_cast<std::size_t>(r.max_units))(rng);
      body = b.t.prefix;
      for (std::size_t u = 0; u < n; ++u) {
        std::string unit = b.t.unit;
        if (!replace_text(unit, r, chat_text(rng))) {
          std::fprintf(stderr, "decode_bench: recipe %s: text marker not in unit\n", r.file);
          return {};
        }
        if (u > 0) body += r.sep;
        body += unit;
      }
      body += b.t.suffix;
    }
    (it.resp ? it.resp->body : it.req.body) = std::move(body);
    it.expected = b.events0 + (n - 1);
    it.upload = r.upload;
    std::vector<chat_event> ev;
    auto err = decode(it, ev);
    if (err || ev.size() != it.expected) {
      std::fprintf(stderr,
                   "decode_bench: generated body %zu from %s (%zu units, %zu bytes) gave %zu "
                   "events, expected %zu%s%s\n",
                   i, r.file, n, it.bytes(), ev.size(), it.expected, err ? ": " : "",
                   err ? err.message().c_str() : "");
      return {};
    }
    out.push_back(std::move(it));
  }
  return out;
}

int main(int argc, char** argv) {
  double corpus_mb = 8;
  double min_seconds = 0.2;
  int repeat = 3;
  std::size_t realistic_bodies = 3000;
  std::string only;
  std::string transport;  // set: only the per-transport rows whose name starts with it
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--corpus-mb")
      corpus_mb = std::stod(argv[i + 1]);
    else if (a == "--min-seconds")
      min_seconds = std::stod(argv[i + 1]);
    else if (a == "--repeat")
      repeat = std::stoi(argv[i + 1]);
    else if (a == "--realistic-bodies")
      realistic_bodies = static_cast<std::size_t>(std::stoul(argv[i + 1]));
    else if (a == "--only")
      only = argv[i + 1];
    else if (a == "--transport")
      transport = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: decode_bench [--corpus-mb N] [--min-seconds S] [--repeat R] "
                   "[--realistic-bodies N] [--only fixture|realistic] [--transport NAME]\n");
      return 2;
    }
  }
  limits lim;
  auto items = load_fixtures(lim);
  if (items.empty()) {
    std::fprintf(stderr, "decode_bench: no decodable fixtures under test/modules/fixtures\n");
    return 1;
  }
  auto realistic = build_realistic(lim, realistic_bodies);
  if (realistic.empty()) {
    std::fprintf(stderr, "decode_bench: FAILED: the realistic corpus does not decode as built\n");
    return 1;
  }
  // The fixture mix: the fixtures repeated up to corpus_mb, shuffled with a fixed seed.
  std::size_t one_pass = 0;
  for (const auto& it : items) one_pass += it.bytes();
  std::vector<const item*> mixed;
  std::size_t total = 0;
  while (total < static_cast<std::size_t>(corpus_mb * 1024 * 1024)) {
    for (const auto& it : items) {
      mixed.push_back(&it);
      total += it.bytes();
    }
  }
  std::mt19937 rng(42);
  std::shuffle(mixed.begin(), mixed.end(), rng);
  // The realistic mix: generated in random order already.
  std::vector<const item*> real_mixed;
  std::size_t real_total = 0, real_expected = 0;
  for (const auto& it : realistic) {
    real_mixed.push_back(&it);
    real_total += it.bytes();
    real_expected += it.expected;
  }

  memory_session_store sessions;
  std::string sink;
  sink.resize(1 << 20);
  auto decode_one = [&](const item& it) -> std::size_t {
    std::vector<chat_event> events;
    exchange x{it.req, it.resp ? &*it.resp : nullptr, "bench", "192.0.2.1", &sessions, lim};
    if (it.resp) {
      (void)it.d->decode_response(x, events);
    } else {
      const decoder* d = classify(it.req.head);  // the preview-time step is part of the cost
      if (d != nullptr) (void)d->decode_request(x, events);
    }
    return events.size();
  };
  std::size_t checksum = 0;
  auto copy_one = [&](const item& it) -> std::size_t {
    const std::string& body = it.resp ? it.resp->body : it.req.body;
    if (sink.size() < body.size()) sink.resize(body.size());
    std::memcpy(sink.data(), body.data(), body.size());
    checksum += static_cast<unsigned char>(sink[body.size() / 2]);
    return 0;
  };

  auto header = [] {
    std::printf("%-30s %7s %11s %12s %12s %12s %10s\n", "transport", "bodies", "decode MB/s",
                "events/s", "bodies/s", "memcpy MB/s", "vs memcpy");
  };
  auto row = [&](const std::string& name, const std::vector<const item*>& corpus) {
    auto dec = measure(corpus, min_seconds, repeat, decode_one);
    auto ref = measure(corpus, min_seconds, repeat, copy_one);
    double dec_mbs = static_cast<double>(dec.bytes) / dec.seconds / 1e6;
    double ref_mbs = static_cast<double>(ref.bytes) / ref.seconds / 1e6;
    std::printf("%-30s %7zu %11.1f %12.0f %12.0f %12.1f %9.4fx\n", name.c_str(), corpus.size(),
                dec_mbs, static_cast<double>(dec.events) / dec.seconds,
                static_cast<double>(dec.messages) / dec.seconds, ref_mbs, dec_mbs / ref_mbs);
    return std::pair{dec_mbs, static_cast<double>(dec.events) / dec.seconds};
  };
  auto per_transport = [&](const std::vector<const item*>& corpus) {
    std::map<std::string, std::vector<const item*>> per;
    for (const item* it : corpus)
      per[std::string(it->d->name) + (it->resp ? " (resp)" : " (req)")].push_back(it);
    for (const auto& [name, c] : per)
      if (name.starts_with(transport)) row(name, c);
  };

  std::pair<double, double> fix{0, 0}, real{0, 0};
  if (!transport.empty()) {  // profiling one transport: its rows only, no totals
    if (only.empty() || only == "fixture") per_transport(mixed);
    if (only.empty() || only == "realistic") per_transport(real_mixed);
    return 0;
  }
  if (only.empty() || only == "fixture") {
    std::printf(
        "fixture mix: %zu fixture bodies (%zu bytes per pass), corpus %zu bodies, %.1f MB, "
        "%.0f bytes per body\n",
        items.size(), one_pass, mixed.size(), static_cast<double>(total) / 1e6,
        static_cast<double>(total) / static_cast<double>(mixed.size()));
    header();
    per_transport(mixed);
    fix = row("ALL fixture mix", mixed);
  }
  if (only.empty() || only == "realistic") {
    std::printf(
        "\nrealistic mix: %zu generated bodies (seed 20261123, %zu recipes), %.1f MB, "
        "%.0f bytes per body, %zu events (all checked)\n",
        realistic.size(), std::size(recipes), static_cast<double>(real_total) / 1e6,
        static_cast<double>(real_total) / static_cast<double>(realistic.size()), real_expected);
    header();
    per_transport(real_mixed);
    real = row("ALL realistic mix", real_mixed);
    // Uploads are few bodies but most of the bytes: the mix without them shows the chat cost.
    std::vector<const item*> chat_only;
    for (const item* it : real_mixed)
      if (!it->upload) chat_only.push_back(it);
    row("realistic without uploads", chat_only);
  }
  auto verdict = [](double v, double target) { return v >= target ? "met" : "NOT met"; };
  if (only.empty() || only == "realistic")
    std::printf(
        "targets (>= 300 MB/s and >= 200000 events/s per core, realistic mix): "
        "%.1f MB/s %s, %.0f events/s %s\n",
        real.first, verdict(real.first, 300), real.second, verdict(real.second, 200000));
  if (only.empty() || only == "fixture")
    std::printf(
        "fixture mix for comparison (minimal test vectors): %.1f MB/s %s, %.0f events/s "
        "%s\n",
        fix.first, verdict(fix.first, 300), fix.second, verdict(fix.second, 200000));
  std::fprintf(stderr, "(checksum %zu)\n", checksum);
  return 0;
}
