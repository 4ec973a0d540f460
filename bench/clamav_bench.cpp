// ClamAV attachment scanning: imcap's engine and pool (clamav_scanner) against calling libclamav
// directly (cl_scanmap_callback on the same bytes, an engine built with the same settings) in
// the same run. Prints throughput of both and the ratio; the target is imcap >= 0.90 x direct.
//
// Two shapes, each measured in alternating rounds (direct, imcap, direct, imcap, ...) so drift
// in machine load hits both sides alike; the median round of each side is reported:
//   serial     one caller, one scan at a time: imcap = scan() (queue hand-off to a pool thread
//              and back), direct = cl_scanmap_callback on the caller's thread.
//   parallel   T scans in flight: imcap = pool of T threads fed by one submitter keeping T
//              scans queued, direct = T threads each scanning their share.
//
// libclamav caches the hash of every clean object and skips it the next time, so each round
// scans fresh copies of the base attachments with a unique tag written into them: every scan
// is a first sighting, as distinct attachments in real traffic are. Both sides get the same
// bytes (their engines have separate caches).
//
// Databases: the shipped test database (signatures/clamav), and a synthetic database of
// body (.ndb) and hash (.hdb) signatures written to a temporary directory, so the
// automaton and hash tables have a realistic size without freshclam. --db DIR adds a real one.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "signatures/clamav_engine.hpp"

namespace fs = std::filesystem;
using namespace imcap::signatures;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::size_t attachment_bytes = std::size_t{1} << 20;
  int attachments = 16;  // distinct attachments, scanned round-robin
  int scans = 64;        // scans per round and side
  int rounds = 5;
  unsigned threads = 2;
  int synthetic_body = 20000;
  int synthetic_hash = 100000;
  std::vector<fs::path> extra_dbs;
};

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const auto v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

// Chat-export-like text: words from a small vocabulary, lines of varying length.
std::string text_bytes(std::mt19937_64& rng, std::size_t n) {
  static const char* words[] = {"meeting",  "the",    "report", "send",   "please", "tomorrow",
                                "budget",   "file",   "ok",     "thanks", "deploy", "invoice",
                                "customer", "review", "draft",  "lunch",  "call",   "update"};
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) {
    s += words[rng() % (sizeof words / sizeof *words)];
    s += (rng() % 9 == 0) ? '\n' : ' ';
  }
  s.resize(n);
  return s;
}

// Three payload shapes libclamav treats differently: text (normalised before matching), raw
// binary, and an "MZ" header (typed as an executable and parsed as one).
std::string pe_like(std::mt19937_64& rng, std::size_t n) {
  std::string s = random_bytes(rng, n);
  s[0] = 'M';
  s[1] = 'Z';
  return s;
}

fs::path write_synthetic_db(const fs::path& dir, int body, int hash, std::mt19937_64& rng) {
  fs::create_directories(dir);
  {
    std::ofstream ndb(dir / "synthetic.ndb");
    char hex[3];
    for (int i = 0; i < body; ++i) {
      ndb << "Bench.Synthetic.Body-" << i << ":0:*:";
      for (int b = 0; b < 24; ++b) {
        std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(rng() & 0xff));
        ndb << hex;
      }
      ndb << "\n";
    }
  }
  {
    std::ofstream hdb(dir / "synthetic.hdb");
    char hex[3];
    for (int i = 0; i < hash; ++i) {
      for (int b = 0; b < 16; ++b) {
        std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(rng() & 0xff));
        hdb << hex;
      }
      hdb << ":" << (1000 + rng() % 5000000) << ":Bench.Synthetic.Hash-" << i << "\n";
    }
  }
  return dir;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct side_result {
  double mib_per_s = 0;
  int infected = 0;
  int errors = 0;
};

struct corpus {
  std::vector<std::shared_ptr<const std::string>> items;
  std::size_t bytes_per_scan(int i) const {
    return items[static_cast<std::size_t>(i) % items.size()]->size();
  }
  const std::shared_ptr<const std::string>& at(int i) const {
    return items[static_cast<std::size_t>(i) % items.size()];
  }
};

// `n` copies of the base attachments, each with a tag unique to (round, index) at offset 512.
corpus tagged(const corpus& base, int n, std::uint64_t round) {
  corpus out;
  for (int i = 0; i < n; ++i) {
    std::string s = *base.at(i);
    char tag[40];
    const int len = std::snprintf(tag, sizeof tag, "imcap-bench-%llu-%d",
                                  static_cast<unsigned long long>(round), i);
    if (s.size() > 512 + static_cast<std::size_t>(len)) {
      std::memcpy(s.data() + 512, tag, static_cast<std::size_t>(len));
    }
    out.items.push_back(std::make_shared<const std::string>(std::move(s)));
  }
  return out;
}

clamav_input input_of(const std::shared_ptr<const std::string>& s) {
  clamav_input in;
  in.bytes =
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(s->data()), s->size());
  in.owner = s;
  in.name = "attachment";
  return in;
}

side_result run_direct(const clamav_direct& direct, const corpus& c, int scans, unsigned threads) {
  std::atomic<int> infected{0}, errors{0};
  std::size_t total = 0;
  for (int i = 0; i < scans; ++i) total += c.bytes_per_scan(i);
  const auto t0 = clock_type::now();
  auto work = [&](unsigned t) {
    for (int i = static_cast<int>(t); i < scans; i += static_cast<int>(threads)) {
      const auto& s = c.at(i);
      std::string virus;
      const int rc = direct.scan(std::span<const unsigned char>(
                                     reinterpret_cast<const unsigned char*>(s->data()), s->size()),
                                 virus);
      if (rc == 1)
        ++infected;
      else if (rc != 0)
        ++errors;
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) ts.emplace_back(work, t);
    for (auto& t : ts) t.join();
  }
  const double secs = seconds_since(t0);
  return {static_cast<double>(total) / (1 << 20) / secs, infected.load(), errors.load()};
}

side_result run_pool(clamav_scanner& scanner, const corpus& c, int scans, unsigned in_flight) {
  std::size_t total = 0;
  for (int i = 0; i < scans; ++i) total += c.bytes_per_scan(i);
  int infected = 0, errors = 0;
  const auto t0 = clock_type::now();
  if (in_flight == 1) {
    for (int i = 0; i < scans; ++i) {
      const auto r = scanner.scan(input_of(c.at(i)));
      if (r.status == clamav_status::infected)
        ++infected;
      else if (r.status == clamav_status::error)
        ++errors;
    }
  } else {
    std::mutex m;
    std::condition_variable cv;
    unsigned outstanding = 0;
    int done = 0;
    for (int i = 0; i < scans; ++i) {
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return outstanding < in_flight; });
        ++outstanding;
      }
      scanner.scan_async(input_of(c.at(i)), [&](clamav_result r) {
        std::lock_guard lk(m);
        if (r.status == clamav_status::infected)
          ++infected;
        else if (r.status == clamav_status::error)
          ++errors;
        --outstanding;
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return done == scans; });
  }
  const double secs = seconds_since(t0);
  return {static_cast<double>(total) / (1 << 20) / secs, infected, errors};
}

int usage() {
  std::fprintf(stderr,
               "usage: clamav_bench [--source-dir DIR] [--scans N] [--rounds N] [--threads N]\n"
               "                    [--attachments N] [--size BYTES] [--synthetic-body N]\n"
               "                    [--synthetic-hash N] [--db DIR]...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  fs::path source_dir = IMCAP_SOURCE_DIR;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(usage());
      }
      return argv[++i];
    };
    if (a == "--source-dir")
      source_dir = next();
    else if (a == "--scans")
      o.scans = std::stoi(next());
    else if (a == "--rounds")
      o.rounds = std::stoi(next());
    else if (a == "--threads")
      o.threads = static_cast<unsigned>(std::stoul(next()));
    else if (a == "--attachments")
      o.attachments = std::stoi(next());
    else if (a == "--size")
      o.attachment_bytes = std::stoul(next());
    else if (a == "--synthetic-body")
      o.synthetic_body = std::stoi(next());
    else if (a == "--synthetic-hash")
      o.synthetic_hash = std::stoi(next());
    else if (a == "--db")
      o.extra_dbs.emplace_back(next());
    else
      return usage();
  }
  if (o.scans < 1 || o.rounds < 1 || o.threads < 1 || o.attachments < 1) return usage();

  std::mt19937_64 rng(20261123);
  corpus c;
  const std::string marker = "IMCAP-TEST-MALWARE-MARKER-5c1e0d7a9b";
  for (int i = 0; i < o.attachments; ++i) {
    std::string s;
    switch (i % 3) {
      case 0:
        s = text_bytes(rng, o.attachment_bytes);
        break;
      case 1:
        s = random_bytes(rng, o.attachment_bytes);
        break;
      default:
        s = pe_like(rng, o.attachment_bytes);
        break;
    }
    // One attachment in eight carries the test marker at its end: both sides must find it.
    if (i % 8 == 7) s.replace(s.size() - marker.size(), marker.size(), marker);
    c.items.push_back(std::make_shared<const std::string>(std::move(s)));
  }

  char tmpl[] = "/tmp/imcap-clamav-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path tmp = tmpl;

  struct db_set {
    std::string label;
    std::vector<fs::path> dirs;
  };
  std::vector<db_set> sets;
  sets.push_back({"shipped test database", {source_dir / "signatures/clamav"}});
  sets.push_back(
      {"shipped + synthetic (" + std::to_string(o.synthetic_body) + " body, " +
           std::to_string(o.synthetic_hash) + " hash sigs)",
       {source_dir / "signatures/clamav",
        write_synthetic_db(tmp / "synthetic", o.synthetic_body, o.synthetic_hash, rng)}});
  if (!o.extra_dbs.empty()) {
    auto dirs = o.extra_dbs;
    dirs.insert(dirs.begin(), source_dir / "signatures/clamav");
    sets.push_back({"shipped + --db", dirs});
  }

  std::printf(
      "clamav_bench: %d attachments of %zu bytes (text, random, MZ-headed; 1 in 8 with "
      "the test marker), %d scans per round, %d rounds, libclamav in-process\n",
      o.attachments, o.attachment_bytes, o.scans, o.rounds);
  std::printf("%-58s %-9s %12s %12s %7s\n", "database", "shape", "direct MiB/s", "imcap MiB/s",
              "ratio");
  int worst = 0;
  bool all_ok = true;
  std::uint64_t round_id = 0;
  for (const auto& set : sets) {
    clamav_settings s;
    s.database_dirs = set.dirs;
    s.timeout = std::chrono::seconds(600);
    s.queue_capacity = 1024;
    const clamav_direct direct(s);
    for (const unsigned t : {1u, o.threads}) {
      s.pool_threads = t;
      clamav_scanner scanner(s);
      std::vector<double> d_rates, p_rates;
      // Warm-up: page in both engines.
      const corpus warm = tagged(c, std::min(o.scans, o.attachments), ++round_id);
      run_direct(direct, warm, static_cast<int>(warm.items.size()), t);
      run_pool(scanner, warm, static_cast<int>(warm.items.size()), t);
      int d_inf = 0, p_inf = 0, errs = 0;
      for (int r = 0; r < o.rounds; ++r) {
        const corpus fresh = tagged(c, o.scans, ++round_id);
        const auto d = run_direct(direct, fresh, o.scans, t);
        const auto p = run_pool(scanner, fresh, o.scans, t);
        d_rates.push_back(d.mib_per_s);
        p_rates.push_back(p.mib_per_s);
        d_inf = d.infected;
        p_inf = p.infected;
        errs += d.errors + p.errors;
      }
      const double dm = median(d_rates), pm = median(p_rates);
      const double ratio = pm / dm;
      std::printf("%-58s %-9s %12.1f %12.1f %7.3f\n", set.label.c_str(),
                  t == 1 ? "serial" : ("parallel" + std::to_string(t)).c_str(), dm, pm, ratio);
      if (d_inf != p_inf || errs != 0) {
        std::printf("  MISMATCH: direct found %d infected, imcap %d, %d errors\n", d_inf, p_inf,
                    errs);
        all_ok = false;
      }
      if (ratio < 0.90) ++worst;
      if (o.threads == 1) break;
    }
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  std::printf("target: imcap >= 0.90 x direct throughput; %s\n",
              worst == 0 ? "met in every row" : "MISSED in some rows");
  return all_ok ? 0 : 1;
}
