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
};

struct hs_db_deleter {
  void operator()(hs_database_t* db) const noexcept { hs_free_database(db); }
};
using hs_db_ptr = std::unique_ptr<hs_database_t, hs_db_deleter>;

class compiled_pack {
 public:
  pack model;
  std::vector<pattern_ref> refs;  // indexed by Vectorscan expression id
  hs_db_ptr block_db;             // text, attachment names, URLs (UTF-8, UCP); null: no patterns
  hs_db_ptr stream_db;            // attachment content, bytes as they come; null: no patterns
  bool loaded_from_cache = false;

  // Indexes built once by index() so a scan touches only the rules that can apply.
  struct part_rules {
    std::vector<std::uint32_t> rules;  // keyword/regex/dlp rules scanning this part
    bool any_unscoped = false;         // one of them applies to every context
    bool needs_bytes = false;          // one of them validates or checks word boundaries
  };
  std::array<part_rules, 4> content_rules;  // by part: text, attachment_name, attachment_content, url
  std::vector<std::uint32_t> file_rules;
  std::vector<std::uint32_t> context_rules;  // app and user_agent rules

  void index();
};

}  // namespace imcap::signatures
