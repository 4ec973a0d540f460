// sigscan_bench: signature-scan throughput on one core, next to two references measured in the
// same run on the same bytes: memcpy (the ceiling) and a naive loop that runs every rule as its
// own std::regex (what a pack engine without Vectorscan would do).
//
// Workloads: (1) chat messages, one scan() per message, as imcapd scans them; (2) the same chat
// text as one 1 MiB part; (3) a 1 MiB attachment streamed in 64 KiB chunks. Packs: (a) the
// shipped packs (every message scanned by all five), (b) a synthetic pack of 10 000 keywords
// and 500 regexes. The naive loop is far too slow to run on megabytes: it is timed on a small
// sample and its rate per byte is extrapolated; the output says so.
//
// usage: sigscan_bench [--corpus-mb N] [--seconds S] [--naive-seconds S] [--packs DIR]

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <hs/hs.h>
#include <unistd.h>
#include "signatures/compiled_impl.hpp"

#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"
#include "signatures/validators.hpp"

namespace fs = std::filesystem;
using namespace imcap::signatures;
// A clock over CLOCK_THREAD_CPUTIME_ID, usable like steady_clock.
struct clock_type {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<clock_type>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(duration(std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
  }
};

namespace {

// Time is this thread's CPU time, not wall time: the figures are per core and stay meaningful
// on a machine shared with other work (the wall clock would charge us for other processes).
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

const char* const vocabulary[] = {
    "hi",       "hello",    "thanks",   "ok",        "sure",    "meeting",     "today",
    "tomorrow", "at",       "the",      "a",         "an",      "is",          "are",
    "we",       "you",      "I",        "can",       "could",   "please",      "send",
    "me",       "the",      "report",   "deck",      "slides",  "numbers",     "for",
    "Q3",       "budget",   "review",   "call",      "in",      "five",        "minutes",
    "lunch",    "later",    "sounds",   "good",      "let's",   "sync",        "on",
    "this",     "project",  "customer", "update",    "status",  "blocked",     "by",
    "infra",    "deploy",   "done",     "merged",    "PR",      "ticket",      "bug",
    "fix",      "release",  "notes",    "draft",     "ready",   "look",        "at",
    "it",       "when",     "you",      "have",      "time",    "no",          "worries",
    "great",    "job",      "team",     "weekend",   "coffee",  "?",           "!",
    "agenda",   "invoice",  "contract", "vendor",    "legal",   "approved",    "pending",
    "sign-off", "schedule", "office",   "remote",    "vpn",     "password",    "reset",
    "laptop",   "screen",   "share",    "link",      "doc",     "spreadsheet", "column",
    "row",      "formula",  "chart",    "dashboard", "metrics", "latency",     "errors",
    "spike",    "rollback", "hotfix",   "Monday",    "Friday",  "EOD",         "ASAP",
    "FYI",      "btw",      "lol",      "np",        "ty",      "über",        "Grüße",
    "merci",    "gracias",  "¿qué",     "tal?"};

// Things a pack should catch, sprinkled into ~1% of messages.
const char* const shipped_hits[] = {"card 4111 1111 1111 1111 exp 12/29",
                                    "IBAN DE89 3704 0044 0532 0130 00",
                                    "this is strictly confidential",
                                    "AKIAIOSFODNN7EXAMPLE",
                                    "ssn 536-22-8726",
                                    "Password=Tr0ub4dor3;"};

std::string pseudo_word(std::mt19937_64& rng, std::size_t min_len, std::size_t max_len) {
  static constexpr char consonants[] = "bcdfghjklmnpqrstvwxz";
  static constexpr char vowels[] = "aeiouy";
  std::uniform_int_distribution<std::size_t> len(min_len, max_len);
  std::string w;
  const std::size_t n = len(rng);
  for (std::size_t i = 0; i < n; ++i)
    w += (i % 2 == 0) ? consonants[rng() % 20] : vowels[rng() % 6];
  return w;
}

struct synthetic {
  std::vector<std::string> keywords;
  std::vector<std::string> regexes;        // Vectorscan syntax (also valid ECMAScript)
  std::vector<std::string> regex_samples;  // strings that match some of the regexes
};

synthetic make_synthetic(std::mt19937_64& rng) {
  synthetic s;
  while (s.keywords.size() < 10'000) {
    std::string k = pseudo_word(rng, 6, 12);
    if (rng() % 4 == 0) k += " " + pseudo_word(rng, 4, 8);  // some phrases
    s.keywords.push_back(std::move(k));
  }
  for (int i = 0; i < 500; ++i) {
    const std::string prefix = pseudo_word(rng, 3, 5);
    switch (i % 4) {
      case 0:
        s.regexes.push_back(prefix + "-[0-9]{4,8}");
        break;
      case 1:
        s.regexes.push_back(prefix + "_[a-z]{2}[0-9]{3}");
        break;
      case 2:
        s.regexes.push_back("(?:" + prefix + "|" + pseudo_word(rng, 4, 6) + ")[0-9]{2}-[A-Z]{3}");
        break;
      default:
        s.regexes.push_back(prefix + "[ :]+id=[0-9a-f]{8}");
        break;
    }
    if (i % 4 == 0) s.regex_samples.push_back(prefix + "-" + std::to_string(100000 + i));
  }
  return s;
}

std::vector<std::string> make_messages(std::mt19937_64& rng, std::size_t bytes,
                                       const synthetic& syn) {
  std::vector<std::string> out;
  std::size_t total = 0;
  std::uniform_int_distribution<int> words(4, 24);
  const std::size_t vocab = sizeof vocabulary / sizeof vocabulary[0];
  while (total < bytes) {
    std::string m;
    const int n = words(rng);
    for (int i = 0; i < n; ++i) {
      if (!m.empty()) m += ' ';
      m += vocabulary[rng() % vocab];
    }
    switch (rng() % 300) {  // ~1% of messages carry something a pack should see
      case 0:
        m += std::string(" ") + shipped_hits[rng() % 6];
        break;
      case 1:
        m += " " + syn.keywords[rng() % syn.keywords.size()];
        break;
      case 2:
        m += " " + syn.regex_samples[rng() % syn.regex_samples.size()];
        break;
      default:
        break;
    }
    total += m.size();
    out.push_back(std::move(m));
  }
  return out;
}

std::string toml_literal_array(const std::vector<std::string>& v) {
  std::string s = "[\n";
  for (const auto& x : v) s += "  '" + x + "',\n";
  return s + "]";
}

// ---- the naive reference: every pattern its own std::regex ------------------------------

std::string ecma_escape(std::string_view lit) {
  std::string out;
  for (char c : lit) {
    if (std::strchr("\\^$.|?*+()[]{}/-", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

struct naive_rules {
  std::vector<std::regex> res;
};

naive_rules naive_from(const std::vector<const compiled_pack*>& packs) {
  naive_rules n;
  for (const auto* p : packs) {
    for (const auto& r : model_of(*p).rules) {
      const auto icase = r.options.case_insensitive ? std::regex::icase : std::regex::flag_type{};
      switch (r.kind) {
        case rule_kind::keyword:
          for (const auto& k : r.patterns)
            n.res.emplace_back(ecma_escape(k.text),
                               std::regex::ECMAScript | std::regex::optimize | icase);
          break;
        case rule_kind::regex:
          for (const auto& k : r.patterns)
            n.res.emplace_back(k.text, std::regex::ECMAScript | std::regex::optimize | icase);
          break;
        case rule_kind::dlp: {
          const auto c = validators::candidate_for(*r.detector);
          n.res.emplace_back(std::string(c.expression),
                             std::regex::ECMAScript | std::regex::optimize |
                                 (c.caseless ? std::regex::icase : std::regex::flag_type{}));
          break;
        }
        default:
          break;
      }
    }
  }
  return n;
}

// Bytes per second of the naive loop over `messages`, stopping after `budget` seconds.
double naive_rate(const naive_rules& n, const std::vector<std::string>& messages, double budget,
                  std::size_t& bytes_done, std::size_t& matches) {
  const auto t0 = clock_type::now();
  bytes_done = 0;
  for (const auto& m : messages) {
    for (const auto& re : n.res)
      for (auto it = std::sregex_iterator(m.begin(), m.end(), re); it != std::sregex_iterator();
           ++it)
        ++matches;
    bytes_done += m.size();
    if (seconds_since(t0) > budget) break;
  }
  return static_cast<double>(bytes_done) / seconds_since(t0);
}

// ---- imcap ---------------------------------------------------------------------------------

struct rate {
  double bytes_per_s = 0;
  std::size_t hits = 0;    // summed over all passes
  std::size_t passes = 0;  // times the workload's bytes were scanned
  std::size_t per_pass() const { return passes == 0 ? 0 : hits / passes; }
};

rate per_message(const std::vector<const compiled_pack*>& packs,
                 const std::vector<std::string>& messages, double budget) {
  rate r;
  std::size_t bytes = 0;
  const auto t0 = clock_type::now();
  do {
    for (const auto& m : messages) {
      scan_input in;
      in.text = m;
      for (const auto* p : packs) r.hits += scan(*p, in).hits.size();
      bytes += m.size();
    }
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  return r;
}

// scan_texts over the messages in groups of `group` (the events of one HTTP body).
rate batched(const std::vector<const compiled_pack*>& packs,
             const std::vector<std::string>& messages, std::size_t group, double budget) {
  rate r;
  std::size_t bytes = 0;
  std::vector<std::string_view> views;
  const auto t0 = clock_type::now();
  do {
    for (std::size_t at = 0; at < messages.size(); at += group) {
      views.clear();
      for (std::size_t i = at; i < std::min(messages.size(), at + group); ++i) {
        views.push_back(messages[i]);
        bytes += messages[i].size();
      }
      for (const auto* p : packs)
        for (const auto& res : scan_texts(*p, views, {})) r.hits += res.hits.size();
    }
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  return r;
}

rate block_text(const std::vector<const compiled_pack*>& packs, const std::string& text,
                double budget) {
  rate r;
  std::size_t bytes = 0;
  const auto t0 = clock_type::now();
  do {
    scan_input in;
    in.text = text;
    for (const auto* p : packs) r.hits += scan(*p, in).hits.size();
    bytes += text.size();
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  return r;
}

rate streamed(const std::vector<std::shared_ptr<const compiled_pack>>& packs,
              const std::string& attachment, double budget) {
  rate r;
  std::size_t bytes = 0;
  const auto t0 = clock_type::now();
  do {
    for (const auto& p : packs) {
      attachment_stream s(p, {}, "data.bin", 0);
      for (std::size_t off = 0; off < attachment.size(); off += 64 * 1024)
        s.write(std::string_view(attachment).substr(off, 64 * 1024));
      r.hits += s.finish().hits.size();
    }
    bytes += attachment.size();
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  return r;
}

// Vectorscan alone on the pack's block database: the callback only counts. Shows how much of
// the time is the engine and how much is imcap's processing around it.
rate raw_hs(const compiled_pack& p, const std::string& text, double budget) {
  rate r;
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(p.block_db.get(), &scratch) != HS_SUCCESS) return r;
  std::size_t bytes = 0;
  auto count = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
    ++*static_cast<std::size_t*>(ctx);
    return 0;
  };
  const auto t0 = clock_type::now();
  do {
    hs_scan(p.block_db.get(), text.data(), static_cast<unsigned>(text.size()), 0, scratch, count,
            &r.hits);
    bytes += text.size();
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  hs_free_scratch(scratch);
  return r;
}

// The same, one hs_scan per message.
rate raw_hs_messages(const compiled_pack& p, const std::vector<std::string>& messages,
                     double budget) {
  rate r;
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(p.block_db.get(), &scratch) != HS_SUCCESS) return r;
  std::size_t bytes = 0;
  auto count = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
    ++*static_cast<std::size_t*>(ctx);
    return 0;
  };
  const auto t0 = clock_type::now();
  do {
    for (const auto& m : messages) {
      hs_scan(p.block_db.get(), m.data(), static_cast<unsigned>(m.size()), 0, scratch, count,
              &r.hits);
      bytes += m.size();
    }
    ++r.passes;
  } while (seconds_since(t0) < budget);
  r.bytes_per_s = static_cast<double>(bytes) / seconds_since(t0);
  hs_free_scratch(scratch);
  return r;
}

double memcpy_rate(const std::string& src, double budget) {
  std::vector<char> dst(src.size());
  std::size_t bytes = 0;
  const auto t0 = clock_type::now();
  do {
    std::memcpy(dst.data(), src.data(), src.size());
    asm volatile("" : : "r"(dst.data()) : "memory");  // keep the copy
    bytes += src.size();
  } while (seconds_since(t0) < budget);
  return static_cast<double>(bytes) / seconds_since(t0);
}

double mb(double bytes_per_s) {
  return bytes_per_s / 1e6;
}

void row(const char* workload, const char* engine, double bps, double naive_bps, double memcpy_bps,
         std::size_t hits, const char* note = "") {
  std::printf("%-34s %-22s %10.4g %10.0fx %9.3f %8zu  %s\n", workload, engine, mb(bps),
              naive_bps > 0 ? bps / naive_bps : 0.0, bps / memcpy_bps, hits, note);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t corpus_mb = 8;
  double secs = 2.0, naive_secs = 3.0;
  fs::path packs_dir = fs::path(IMCAP_SOURCE_DIR) / "signatures" / "packs";
  std::string only;  // run only the rows whose "workload engine" contains this (profiling)
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--corpus-mb")
      corpus_mb = std::stoul(argv[i + 1]);
    else if (a == "--seconds")
      secs = std::stod(argv[i + 1]);
    else if (a == "--naive-seconds")
      naive_secs = std::stod(argv[i + 1]);
    else if (a == "--packs")
      packs_dir = argv[i + 1];
    else if (a == "--only")
      only = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }

  std::mt19937_64 rng(20261123);
  const synthetic syn = make_synthetic(rng);
  const auto messages = make_messages(rng, corpus_mb * 1024 * 1024, syn);
  std::string joined;
  for (const auto& m : messages) joined += m + "\n";
  const std::string one_mib = joined.substr(0, 1024 * 1024);
  std::size_t avg = joined.size() / messages.size();

  const fs::path tmp =
      fs::temp_directory_path() / ("imcap-sigscan-bench-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  {
    std::ofstream o(tmp / "synthetic.toml");
    o << "name = \"synthetic\"\nversion = \"1\"\n"
      << "[[rule]]\nid = \"kw\"\nkind = \"keyword\"\nkeywords = "
      << toml_literal_array(syn.keywords)
      << "\n[[rule]]\nid = \"rx\"\nkind = \"regex\"\npatterns = " << toml_literal_array(syn.regexes)
      << "\n";
  }
  compile_options cached;
  cached.cache_dir = tmp / "cache";
  auto t0 = clock_type::now();
  auto syn_pack = load_pack(tmp / "synthetic.toml", cached);
  const double compile_s = seconds_since(t0);
  t0 = clock_type::now();
  syn_pack = load_pack(tmp / "synthetic.toml", cached);
  const double cached_s = seconds_since(t0);
  const bool from_cache = loaded_from_cache(*syn_pack);

  std::vector<std::shared_ptr<const compiled_pack>> shipped;
  for (const char* n : {"baseline-dlp.toml", "secrets.toml", "malware-files.toml", "im-apps.toml",
                        "greynet-legacy.toml"})
    shipped.push_back(load_pack(packs_dir / n));
  std::vector<const compiled_pack*> shipped_raw;
  for (const auto& p : shipped) shipped_raw.push_back(p.get());
  const std::vector<const compiled_pack*> syn_raw{syn_pack.get()};

  std::printf(
      "sigscan_bench: one thread, rates per CPU-second of that thread; corpus %zu chat messages, "
      "%.1f MB, %zu bytes/message on "
      "average, ~1%% carry a hit\n",
      messages.size(), static_cast<double>(joined.size()) / 1e6, avg);
  std::printf(
      "synthetic pack: %zu keywords + %zu regexes; compile %.2f s, load from cache %.3f s "
      "(%s)\n",
      syn.keywords.size(), syn.regexes.size(), compile_s, cached_s,
      from_cache ? "cache hit" : "CACHE MISS");
  std::printf("Vectorscan %s\n\n", hs_version());

  const double memcpy_bps = memcpy_rate(joined, only.empty() ? secs : 0.1);

  // Naive references, each on a sample (bytes it got through are printed).
  const std::vector<std::string> sample(
      messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(
                                               std::min<std::size_t>(messages.size(), 20000)));
  std::size_t naive_ship_bytes = 0, naive_syn_bytes = 0, naive_matches = 0;
  t0 = clock_type::now();
  const auto naive_ship = naive_from(shipped_raw);
  const auto naive_syn = naive_from(syn_raw);
  const double naive_build_s = seconds_since(t0);
  const double naive_ship_bps =
      only.empty() ? naive_rate(naive_ship, sample, naive_secs, naive_ship_bytes, naive_matches)
                   : 0.0;
  const double naive_syn_bps =
      only.empty() ? naive_rate(naive_syn, sample, naive_secs, naive_syn_bytes, naive_matches)
                   : 0.0;

  std::printf("%-34s %-22s %10s %11s %9s %9s\n", "workload", "engine", "MB/s", "vs naive",
              "vs memcpy", "hits/pass");
  row("reference", "memcpy", memcpy_bps, 0, memcpy_bps, 0);
  char note[160];
  std::snprintf(note, sizeof note, "extrapolated from %zu bytes (%zu regexes)", naive_ship_bytes,
                naive_ship.res.size());
  row("(a) shipped packs, text", "naive std::regex loop", naive_ship_bps, naive_ship_bps,
      memcpy_bps, 0, note);
  std::snprintf(note, sizeof note, "extrapolated from %zu bytes (%zu regexes)", naive_syn_bytes,
                naive_syn.res.size());
  row("(b) synthetic pack, text", "naive std::regex loop", naive_syn_bps, naive_syn_bps, memcpy_bps,
      0, note);

  // A row runs unless --only names another workload (then it prints nothing).
  auto wants = [&](const char* workload, const char* engine) {
    return only.empty() || (std::string(workload) + " " + engine).find(only) != std::string::npos;
  };
  auto run = [&](const char* workload, const char* engine, double naive_bps, const char* why,
                 auto&& fn) -> rate {
    if (!wants(workload, engine)) return {};
    const rate r = fn();
    row(workload, engine, r.bytes_per_s, naive_bps, memcpy_bps, r.per_pass(), why);
    return r;
  };
  run("(a) shipped packs, per message", "imcap (Vectorscan)", naive_ship_bps,
      "5 packs, one scan() per message per pack",
      [&] { return per_message(shipped_raw, messages, secs); });
  run("(a) shipped packs, per message", "imcap scan_texts", naive_ship_bps,
      "5 packs, scan_texts() per 32 messages per pack",
      [&] { return batched(shipped_raw, messages, 32, secs); });
  run("(a) shipped packs, 1 MiB text", "imcap (Vectorscan)", naive_ship_bps, "",
      [&] { return block_text(shipped_raw, one_mib, secs); });
  run("(a) shipped packs, 1 MiB attachm.", "imcap (Vectorscan)", naive_ship_bps,
      "streamed in 64 KiB chunks, file rules incl.",
      [&] { return streamed(shipped, one_mib, secs); });

  const auto b_msg =
      run("(b) synthetic, per message", "imcap (Vectorscan)", naive_syn_bps,
          "one scan() per message", [&] { return per_message(syn_raw, messages, secs); });
  const auto b_batch =
      run("(b) synthetic, per message", "imcap scan_texts", naive_syn_bps,
          "scan_texts() per 32 messages", [&] { return batched(syn_raw, messages, 32, secs); });
  run("(b) synthetic, per message", "hs_scan alone", naive_syn_bps,
      "raw matches, no imcap processing",
      [&] { return raw_hs_messages(*syn_pack, messages, secs); });
  const auto b_blk = run("(b) synthetic, 1 MiB text", "imcap (Vectorscan)", naive_syn_bps, "",
                         [&] { return block_text(syn_raw, one_mib, secs); });
  run("(b) synthetic, 1 MiB text", "hs_scan alone", naive_syn_bps,
      "raw matches, no imcap processing", [&] { return raw_hs(*syn_pack, one_mib, secs); });
  run("(b) synthetic, 1 MiB attachment", "imcap (Vectorscan)", naive_syn_bps,
      "streamed in 64 KiB chunks", [&] { return streamed({syn_pack}, one_mib, secs); });

  std::printf(
      "\nnaive regexes built in %.2f s; naive rates are per byte of chat text and apply to "
      "attachments alike.\n",
      naive_build_s);
  std::printf(
      "targets: (b) text >= 1000 MB/s per core: per message %s (scan_texts %s), 1 MiB text %s; "
      ">= 50x naive: %s\n",
      mb(b_msg.bytes_per_s) >= 1000 ? "met" : "NOT met",
      mb(b_batch.bytes_per_s) >= 1000 ? "met" : "NOT met",
      mb(b_blk.bytes_per_s) >= 1000 ? "met" : "NOT met",
      b_msg.bytes_per_s / naive_syn_bps >= 50 ? "met" : "NOT met");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}
