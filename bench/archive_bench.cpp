// Archive commit throughput: events/s the store commits with durability strict and relaxed, at
// max_batch 1 (one commit per event) and 1024 (group commit), next to a reference in the same run:
// raw LMDB puts of the same record bytes, one write transaction per event, committed with
// LMDB's default sync (fsync per event) -- what a naive "one txn per message" archive does.
// Wall-clock time (durability is about waiting for the disk). Every run uses a fresh directory
// under --dir (default: the system temp directory; use a directory on the disk imcapd would use).
//
// usage: archive_bench [--events N] [--strict-single N] [--dir DIR] [--producers P]

#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/archive.hpp"
#include "archive/codec.hpp"

namespace fs = std::filesystem;
using namespace imcap::archive;

namespace {

event_record make_event(int i) {
  event_record e;
  e.seen_us = 1'700'000'000'000'000 + i;
  e.kind = "message";
  e.app = i % 3 == 0 ? "teams" : "slack";
  e.transport = "rest";
  e.direction = "outbound";
  e.session_key = "sess-" + std::to_string(i % 50);
  e.conversation_id = "C" + std::to_string(i % 40);
  e.sender_id = "U" + std::to_string(i % 25);
  e.sender_name = "User " + std::to_string(i % 25);
  e.sender_source = "body";
  e.recipients = {{"U" + std::to_string((i + 1) % 25), "Peer"}};
  e.text = "Status update " + std::to_string(i) +
           ": the quarterly numbers look fine, meeting moved to Thursday at 10, bring the deck.";
  e.client_msg_id = "cm-" + std::to_string(i);
  e.proxy_user = "user" + std::to_string(i % 25);
  e.proxy_groups = {"staff"};
  e.client_ip = "10.0.0." + std::to_string(i % 200);
  e.url = "https://slack.com/api/chat.postMessage";
  e.user_agent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120";
  e.icap_transaction = static_cast<std::uint64_t>(i);
  e.verdict = "allow";
  e.pack_version = "default@1.0.0";
  return e;
}

struct temp_dir {
  fs::path path;
  explicit temp_dir(const fs::path& base) {
    std::string tmpl = (base / "imcap-archive-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::exit(2);
    }
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The reference: one mdb_txn per event, default sync (fsync at every commit).
double raw_lmdb(const fs::path& base, const std::vector<std::string>& records, int n) {
  temp_dir dir(base);
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_mapsize(env, std::size_t{1} << 30);
  if (mdb_env_open(env, dir.path.c_str(), 0, 0640) != 0) {
    std::fprintf(stderr, "raw LMDB: cannot open %s\n", dir.path.c_str());
    std::exit(2);
  }
  MDB_dbi dbi;
  MDB_txn* txn = nullptr;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, nullptr, 0, &dbi);
  mdb_txn_commit(txn);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    const std::string key = [&] {
      std::string k;
      for (int s = 56; s >= 0; s -= 8) k.push_back(static_cast<char>((i + 1) >> s & 0xff));
      return k;
    }();
    const std::string& v = records[static_cast<std::size_t>(i) % records.size()];
    MDB_val k{key.size(), const_cast<char*>(key.data())}, d{v.size(), const_cast<char*>(v.data())};
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_put(txn, dbi, &k, &d, 0);
    if (mdb_txn_commit(txn) != 0) std::exit(3);
  }
  const double s = seconds_since(t0);
  mdb_env_close(env);
  return n / s;
}

struct result {
  double events_per_s = 0;
  std::uint64_t commits = 0;
  std::uint64_t errors = 0;
};

// Producers submit as fast as the queue allows; the clock stops when the last completion ran.
result through_store(const fs::path& base, durability mode, std::size_t max_batch, int n,
                     int producers) {
  temp_dir dir(base);
  settings s;
  s.path = dir.path / "archive";
  s.mode = mode;
  s.max_batch = max_batch;
  s.max_batch_delay = std::chrono::microseconds(max_batch == 1 ? 0 : 500);
  s.map_size_initial = std::uint64_t{1} << 30;
  auto st = store::open(s);
  std::atomic<std::uint64_t> errors{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = p; i < n; i += producers) {
        for (;;) {
          const auto ec = st->submit(make_event(i), {}, [&](std::error_code e, std::uint64_t) {
            if (e) errors.fetch_add(1);
          });
          if (ec != errc::queue_full) break;
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  st->flush();
  const double secs = seconds_since(t0);
  const auto stats = st->statistics();
  return {n / secs, stats.commits, errors.load()};
}

// Closed loop, as the ICAP pipeline uses the store: `clients` threads each submit one event and
// wait for its completion before the next (an ICAP reply waits for its event). Latency is
// submit -> completion.
struct loop_result {
  double events_per_s = 0;
  double p50_us = 0, p99_us = 0;
  std::uint64_t commits = 0;
};

loop_result closed_loop(const fs::path& base, durability mode, int clients, double seconds) {
  temp_dir dir(base);
  settings s;
  s.path = dir.path / "archive";
  s.mode = mode;
  s.map_size_initial = std::uint64_t{1} << 30;
  auto st = store::open(s);
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  const auto t0 = std::chrono::steady_clock::now();
  const auto stop = t0 + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mutex m;
      std::condition_variable cv;
      for (int i = c; std::chrono::steady_clock::now() < stop; i += clients) {
        bool done = false;
        const auto a = std::chrono::steady_clock::now();
        if (st->submit(make_event(i), {}, [&](std::error_code, std::uint64_t) {
              std::lock_guard g(m);
              done = true;
              cv.notify_one();
            }))
          continue;
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return done; });
        lat[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a)
                .count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = seconds_since(t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  loop_result r;
  if (all.empty()) return r;
  r.events_per_s = static_cast<double>(all.size()) / secs;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.commits = st->statistics().commits;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int events = 20000;
  int strict_single = 1000;
  int producers = 4;
  fs::path base = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--events")
      events = std::atoi(argv[i + 1]);
    else if (a == "--strict-single")
      strict_single = std::atoi(argv[i + 1]);
    else if (a == "--dir")
      base = argv[i + 1];
    else if (a == "--producers")
      producers = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: archive_bench [--events N] [--strict-single N] [--dir DIR]"
                   " [--producers P]\n");
      return 2;
    }
  }
  std::vector<std::string> records;
  for (int i = 0; i < 64; ++i) {
    auto e = make_event(i);
    e.id = static_cast<std::uint64_t>(i + 1);
    records.push_back(codec::encode_event(e) + std::string(32, 'h'));
  }
  std::printf(
      "archive_bench: %d events (%d for strict batch 1), %d producers, dir %s, record %zu B\n",
      events, strict_single, producers, base.c_str(), records[0].size());

  const double ref = raw_lmdb(base, records, strict_single);
  std::printf("%-44s %12.0f events/s  (ratio 1.00)\n", "reference: raw LMDB, 1 txn+fsync per event",
              ref);
  struct config {
    const char* name;
    durability mode;
    std::size_t batch;
    int n;
  };
  const config configs[] = {
      {"store strict,  max_batch 1", durability::strict, 1, strict_single},
      {"store strict,  max_batch 1024", durability::strict, 1024, events},
      {"store relaxed, max_batch 1", durability::relaxed, 1, events},
      {"store relaxed, max_batch 1024", durability::relaxed, 1024, events},
  };
  double strict1 = 0;
  for (const auto& c : configs) {
    const auto r = through_store(base, c.mode, c.batch, c.n, producers);
    if (c.mode == durability::strict && c.batch == 1) strict1 = r.events_per_s;
    std::printf("%-44s %12.0f events/s  (ratio %.2f)  %llu commits, %.1f events/commit%s\n", c.name,
                r.events_per_s, r.events_per_s / ref, static_cast<unsigned long long>(r.commits),
                r.commits ? static_cast<double>(c.n) / static_cast<double>(r.commits) : 0.0,
                r.errors ? "  ERRORS" : "");
    if (c.mode == durability::strict && c.batch == 1024 && strict1 > 0)
      std::printf("%-44s %12s           group commit / single: %.1fx\n", "", "",
                  r.events_per_s / strict1);
  }
  std::printf("closed loop (each client waits for its event's completion, default settings):\n");
  for (const auto mode : {durability::strict, durability::relaxed}) {
    for (const int clients : {8, 32}) {
      const auto r = closed_loop(base, mode, clients, 3.0);
      std::printf("  %-7s %2d clients %12.0f events/s  (ratio %.2f)  p50 %.0f us  p99 %.0f us\n",
                  mode == durability::strict ? "strict" : "relaxed", clients, r.events_per_s,
                  r.events_per_s / ref, r.p50_us, r.p99_us);
    }
  }
  return 0;
}
