#pragma once
// Internal to imcap_signatures: what a compiled pack holds. Built once by load_pack
// (engine.cpp), then only read (scanner.cpp), from any number of threads.

#include <hs/hs.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "signatures/engine.hpp"
#include "signatures/pack.hpp"

namespace imcap::signatures {

// What a Vectorscan expression id stands for.
struct pattern_ref {
  enum role_t : std::uint8_t {
    match,  // a keyword/regex pattern or a dlp candidate of `rule`
    near,   // a proximity keyword of `rule`
  };
  std::uint32_t rule = 0;
  role_t role = match;
  // An ASCII literal compiled without start-of-match tracking (faster): its match starts
  // literal_len bytes before its end. 0: Vectorscan reports the start.
  std::uint32_t literal_len = 0;
  // A bounded regex compiled into the text database without start-of-match tracking (which
  // costs Vectorscan a third of its speed): on a match, its start is found by scanning at most
  // max_width bytes before the end with som_db; `unbounded` expressions get theirs from one
  // som_db pass over the text up to the last such match. 0: the database reports the start.
  static constexpr std::uint32_t unbounded = 0xFFFFFFFF;
  std::uint32_t max_width = 0;
};

struct hs_db_deleter {
  void operator()(hs_database_t* db) const noexcept { hs_free_database(db); }
};
using hs_db_ptr = std::unique_ptr<hs_database_t, hs_db_deleter>;

struct hs_scratch_deleter {
  void operator()(hs_scratch_t* s) const noexcept { hs_free_scratch(s); }
};
using hs_scratch_ptr = std::unique_ptr<hs_scratch_t, hs_scratch_deleter>;

class compiled_pack {
 public:
  pack model;
  std::vector<pattern_ref> refs;  // indexed by Vectorscan expression id
  hs_db_ptr block_db;             // text, attachment names, URLs (UTF-8, UCP); null: no patterns
  hs_db_ptr stream_db;            // attachment content, bytes as they come; null: no patterns
  hs_db_ptr som_db;               // block, start tracking, the max_width expressions only
  hs_db_ptr wide_db;              // block, start tracking, the unbounded ones only
  bool loaded_from_cache = false;
  // No expression has an anchor (^ $ \A \z \Z \G), so several texts joined by '\n' and
  // scanned at once give each text's own matches (scan_texts in scanner.cpp).
  bool batchable = false;
  // Sized for both databases at load; each thread clones it once (hs_alloc_scratch validates
  // the whole database on every call, far too slow per message).
  hs_scratch_ptr scratch_prototype;
  std::uint64_t serial = 0;  // unique per loaded pack, keys the per-thread scratch clones

  // Indexes built once by index() so a scan touches only the rules that can apply.
  struct part_rules {
    std::vector<std::uint32_t> rules;  // keyword/regex/dlp rules scanning this part
    bool any_unscoped = false;         // one of them applies to every context
    bool needs_bytes = false;          // one of them validates or checks word boundaries
  };
  std::array<part_rules, 4>
      content_rules;  // by part: text, attachment_name, attachment_content, url
  std::vector<std::uint32_t> file_rules;
  std::vector<std::uint32_t> context_rules;  // app and user_agent rules

  void index();
};

}  // namespace imcap::signatures
