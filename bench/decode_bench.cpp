// Decode throughput of modules/ on one thread: every fixture request and response under
// test/modules/fixtures (bodies already content-decoded by http_message, so only decoding is
// timed) is replicated into a mixed corpus and run through classify + decode_request, or
// decode_response, per transport and overall. The reference in the same run is memcpy of the
// same bodies in the same order; the table prints MB/s, messages (events) per second and the
// ratio to memcpy. Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
//
// usage: decode_bench [--corpus-mb N] [--min-seconds S] [--repeat R]

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
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

int main(int argc, char** argv) {
  double corpus_mb = 8;
  double min_seconds = 0.5;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--corpus-mb")
      corpus_mb = std::stod(argv[i + 1]);
    else if (a == "--min-seconds")
      min_seconds = std::stod(argv[i + 1]);
    else if (a == "--repeat")
      repeat = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: decode_bench [--corpus-mb N] [--min-seconds S] [--repeat R]\n");
      return 2;
    }
  }
  limits lim;
  auto items = load_fixtures(lim);
  if (items.empty()) {
    std::fprintf(stderr, "decode_bench: no decodable fixtures under test/modules/fixtures\n");
    return 1;
  }
  // The mixed corpus: the fixtures repeated up to corpus_mb, shuffled with a fixed seed.
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

  std::printf("decode_bench: %zu fixture bodies (%zu bytes per pass), corpus %zu bodies, %.1f MB\n",
              items.size(), one_pass, mixed.size(), static_cast<double>(total) / 1e6);
  std::printf("%-22s %7s %10s %12s %12s %12s %9s\n", "transport", "bodies", "decode MB/s",
              "events/s", "bodies/s", "memcpy MB/s", "vs memcpy");
  auto row = [&](const std::string& name, const std::vector<const item*>& corpus) {
    auto dec = measure(corpus, min_seconds, repeat, decode_one);
    auto ref = measure(corpus, min_seconds, repeat, copy_one);
    double dec_mbs = static_cast<double>(dec.bytes) / dec.seconds / 1e6;
    double ref_mbs = static_cast<double>(ref.bytes) / ref.seconds / 1e6;
    std::printf("%-22s %7zu %10.1f %12.0f %12.0f %12.1f %8.4fx\n", name.c_str(), corpus.size(),
                dec_mbs, static_cast<double>(dec.events) / dec.seconds,
                static_cast<double>(dec.messages) / dec.seconds, ref_mbs, dec_mbs / ref_mbs);
    return std::pair{dec_mbs, static_cast<double>(dec.events) / dec.seconds};
  };
  std::map<std::string, std::vector<const item*>> per;
  for (const item* it : mixed)
    per[std::string(it->d->name) + (it->resp ? " (resp)" : " (req)")].push_back(it);
  for (const auto& [name, corpus] : per) row(name, corpus);
  auto [mbs, eps] = row("ALL (mixed)", mixed);
  std::printf("targets: >= 300 MB/s and >= 200000 events/s overall: %s, %s\n",
              mbs >= 300 ? "met" : "NOT met", eps >= 200000 ? "met" : "NOT met");
  std::fprintf(stderr, "(checksum %zu)\n", checksum);
  return 0;
}
