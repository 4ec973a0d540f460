// The scanner: Vectorscan finds candidates, then per rule: validators (dlp), overlapping spans
// merged, proximity and count conditions, scope. Block mode and streaming mode share one
// match processor that sees matches in end-offset order, so a message scanned whole and the
// same bytes streamed in any chunking give the same hits.
//
// Per-thread resources: one Vectorscan scratch (grown with hs_alloc_scratch for whichever
// database the thread scans) and one libmagic handle, both thread_local and freed at thread
// exit. Nothing here is shared between threads except the immutable compiled_pack.

#include "signatures/scanner.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fnmatch.h>
#include <magic.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstring>
#include <optional>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "signatures/compiled_impl.hpp"
#include "signatures/validators.hpp"

namespace imcap::signatures {

const pack& model_of(const compiled_pack& p) {
  return p.model;
}

namespace {

// This thread's clone of the pack's scratch prototype. A few packs are live at once (the
// active one, one being swapped in); older clones are freed as new packs arrive.
hs_scratch_t* scratch_for(const compiled_pack& p) {
  struct entry {
    std::uint64_t serial = 0;
    hs_scratch_t* scratch = nullptr;
  };
  struct cache {
    std::array<entry, 8> entries{};
    std::size_t next = 0;
    ~cache() {
      for (auto& e : entries)
        if (e.scratch != nullptr) hs_free_scratch(e.scratch);
    }
  };
  thread_local cache c;
  for (auto& e : c.entries)
    if (e.serial == p.serial && e.scratch != nullptr) return e.scratch;
  hs_scratch_t* s = nullptr;
  if (!p.scratch_prototype || hs_clone_scratch(p.scratch_prototype.get(), &s) != HS_SUCCESS)
    return nullptr;
  entry& slot = c.entries[c.next];
  c.next = (c.next + 1) % c.entries.size();
  if (slot.scratch != nullptr) hs_free_scratch(slot.scratch);
  slot = {p.serial, s};
  return s;
}

std::optional<std::string> true_type_of(std::string_view bytes) {
  struct holder {
    magic_t m = nullptr;
    bool ok = false;
    holder() {
      m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
      ok = m != nullptr && magic_load(m, nullptr) == 0;
    }
    ~holder() {
      if (m != nullptr) magic_close(m);
    }
  };
  thread_local holder h;
  if (!h.ok) return std::nullopt;
  const char* t = magic_buffer(h.m, bytes.data(), bytes.size());
  if (t == nullptr) return std::nullopt;
  return std::string(t);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains_ci(const std::vector<std::string>& list, std::string_view v) {
  const auto lv = lower(v);
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& x) { return lower(x) == lv; });
}

bool in_scope(const rule& r, const scan_context& ctx) {
  const auto& s = r.scope;
  if (s.dir != direction::any && ctx.dir != s.dir) return false;
  if (!s.apps.empty() && !contains_ci(s.apps, ctx.app)) return false;
  if (!s.transports.empty() && !contains_ci(s.transports, ctx.transport)) return false;
  if (!s.users.empty() && !contains_ci(s.users, ctx.user)) return false;
  if (!s.groups.empty() &&
      std::none_of(ctx.groups.begin(), ctx.groups.end(),
                   [&](const std::string& g) { return contains_ci(s.groups, g); }))
    return false;
  return true;
}

bool scans_part(const rule& r, part p) {
  const auto parts = effective_parts(r);
  return std::find(parts.begin(), parts.end(), p) != parts.end();
}

// Structural UTF-8 check (Vectorscan's UTF-8 mode requires valid input): overlongs,
// surrogates and code points past U+10FFFF are invalid.
std::size_t utf8_sequence_ok(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return n;
}

// Calls on_invalid(offset) for every byte of s that does not start a valid UTF-8 sequence
// (and is not inside one). Chat text is mostly ASCII with a non-ASCII letter every few words:
// ASCII runs are skipped 64 bytes at a time, and a 16-byte block holding non-ASCII bytes is
// handled from the bit mask of its high bytes, so only the sequences themselves are looked at
// (walking the ASCII bytes one by one was a fifth of the scan time of a 1 MiB text part).
template <class F>
void for_each_invalid_utf8(std::string_view s, F&& on_invalid) {
  const std::size_t n = s.size();
  const char* d = s.data();
  std::size_t i = 0;
  std::size_t pos = 0;  // bytes before pos are checked
  auto check = [&](std::size_t j) {
    if (j < pos) return;  // inside a sequence already checked
    const std::size_t len = utf8_sequence_ok(s, j);
    if (len == 0) {
      on_invalid(j);
      pos = j + 1;
    } else {
      pos = j + len;
    }
  };
#if defined(__SSE2__)
  while (i + 16 <= n) {
    if (i + 64 <= n) {
      const auto* p = reinterpret_cast<const __m128i*>(d + i);
      const __m128i any =
          _mm_or_si128(_mm_or_si128(_mm_loadu_si128(p), _mm_loadu_si128(p + 1)),
                       _mm_or_si128(_mm_loadu_si128(p + 2), _mm_loadu_si128(p + 3)));
      if (_mm_movemask_epi8(any) == 0) {
        i += 64;
        continue;
      }
    }
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    auto m = static_cast<unsigned>(_mm_movemask_epi8(v));
    if (pos <= i) {
      // The usual case, Latin letters: every non-ASCII byte is part of a two-byte sequence
      // (lead C2..DF, then one continuation 80..BF) that lies inside the block. As signed bytes
      // continuations are -128..-65 and such leads -62..-33.
      const auto cont =
          static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(-64))));
      const auto lead = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(
          _mm_cmpgt_epi8(v, _mm_set1_epi8(-63)), _mm_cmplt_epi8(v, _mm_set1_epi8(-32)))));
      if ((lead & 0x8000u) == 0 && ((lead << 1) & 0xFFFFu) == cont && (lead | cont) == m) {
        i += 16;
        pos = i;
        continue;
      }
    }
    for (; m != 0; m &= m - 1) check(i + static_cast<std::size_t>(std::countr_zero(m)));
    i = std::max(i + 16, pos);
  }
#endif
  for (; i < n; ++i)
    if (static_cast<unsigned char>(d[i]) >= 0x80) check(i);
}

// Same length, invalid bytes replaced by '?', so byte ranges stay those of the original.
std::optional<std::string> masked_if_invalid_utf8(std::string_view s) {
  std::optional<std::string> out;
  for_each_invalid_utf8(s, [&](std::size_t at) {
    if (!out) out.emplace(s);
    (*out)[at] = '?';
  });
  return out;
}

// Word characters for whole_word rules: ASCII letters, digits and '_', and any non-ASCII code
// point outside the common punctuation and space blocks (so "privilégiée" is one word).
bool word_code_point(std::uint32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return false;
  if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
      (cp >= 0xFF00 && cp <= 0xFF0F))
    return false;
  return true;
}

// The code point that ends just before `i` (backwards) or starts at `i` in `w`.
bool word_at(std::string_view w, std::size_t i, bool backwards) {
  std::size_t lead = i;
  if (backwards)
    for (int k = 0; k < 3 && lead > 0 && (static_cast<unsigned char>(w[lead]) & 0xC0) == 0x80; ++k)
      --lead;
  const auto b0 = static_cast<unsigned char>(w[lead]);
  if (b0 < 0x80) return word_code_point(b0);
  const std::size_t n = utf8_sequence_ok(w, lead);
  if (n == 0) return false;
  std::uint32_t cp = b0 & (n == 2 ? 0x1Fu : n == 3 ? 0x0Fu : 0x07u);
  for (std::size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(w[lead + k]) & 0x3Fu);
  return word_code_point(cp);
}

struct span_t {
  std::size_t b = 0;
  std::size_t e = 0;
};

void merge_into(std::vector<span_t>& spans, std::size_t b, std::size_t e, std::size_t cap,
                std::uint64_t& dropped) {
  if (!spans.empty() && b < spans.back().e) {
    spans.back().b = std::min(spans.back().b, b);
    spans.back().e = std::max(spans.back().e, e);
    return;
  }
  if (spans.size() >= cap) {
    ++dropped;
    return;
  }
  spans.push_back({b, e});
}

// Collects and judges the matches of one part (one text field, or one attachment's content).
// Per-rule state exists only for rules that matched, so a message without hits costs no
// allocation however many rules the pack has.
class part_scan {
 public:
  part_scan(const compiled_pack& p, part which, const scan_context& ctx, const scan_limits& lim,
            scan_counters& counters)
      : p_(p), part_(which), ctx_(ctx), lim_(lim), counters_(counters) {
    const auto& pr = p.content_rules[static_cast<std::size_t>(which)];
    needs_bytes_ = pr.needs_bytes;
    any_ = pr.any_unscoped || std::any_of(pr.rules.begin(), pr.rules.end(), [&](std::uint32_t i) {
             return in_scope(p.model.rules[i], ctx);
           });
  }

  bool any_active() const { return any_; }
  bool needs_bytes() const { return needs_bytes_; }

  // Block mode: matches of max_width expressions arrive without their start (see
  // pattern_ref::max_width).
  void set_block_mode() { block_mode_ = true; }
  // Batch mode (scan_texts): the part is one message inside a larger buffer, so a bounded
  // match whose start lookup finds no start inside the message crossed into it from before,
  // and is dropped.
  void set_batch_mode() {
    block_mode_ = true;
    batch_mode_ = true;
  }
  void add_match(unsigned id, std::size_t from, std::size_t to) { add(id, from, to); }

  // Finds those starts with som_db, after the main scan (the scratch is free again by then):
  // bounded expressions on at most max_width bytes before each end, unbounded ones in one pass
  // over the text up to the last of their matches (only when such a match happened at all).
  // Matches are then processed in their original end order. False when Vectorscan fails.
  bool resolve_starts(std::string_view view, hs_scratch_t* scratch) {
    if (unresolved_.empty()) return true;
    if (!p_.som_db) return false;
    struct lookup {
      unsigned id;
      std::size_t end;
      std::size_t from;
    };
    auto on_lookup = [](unsigned id, unsigned long long from, unsigned long long to, unsigned,
                        void* ctx) -> int {
      auto* l = static_cast<lookup*>(ctx);
      if (id == l->id && to == l->end) l->from = std::min<std::size_t>(l->from, from);
      return 0;
    };
    // Unbounded ones: (end, id) -> start, from one pass.
    std::vector<lookup> wide;
    std::size_t wide_end = 0;
    for (const auto& u : unresolved_)
      if (p_.refs[u.id].max_width == pattern_ref::unbounded) {
        wide.push_back({u.id, u.to, SIZE_MAX});
        wide_end = std::max(wide_end, u.to);
      }
    if (!wide.empty()) {
      std::sort(wide.begin(), wide.end(), [](const lookup& a, const lookup& b) {
        return a.end != b.end ? a.end < b.end : a.id < b.id;
      });
      auto on_wide = [](unsigned id, unsigned long long from, unsigned long long to, unsigned,
                        void* ctx) -> int {
        auto& w = *static_cast<std::vector<lookup>*>(ctx);
        auto it = std::lower_bound(w.begin(), w.end(), std::pair{static_cast<std::size_t>(to), id},
                                   [](const lookup& a, const std::pair<std::size_t, unsigned>& k) {
                                     return a.end != k.first ? a.end < k.first : a.id < k.second;
                                   });
        if (it != w.end() && it->end == to && it->id == id)
          it->from = std::min<std::size_t>(it->from, from);
        return 0;
      };
      if (!p_.wide_db || hs_scan(p_.wide_db.get(), view.data(), static_cast<unsigned>(wide_end), 0,
                                 scratch, on_wide, &wide) != HS_SUCCESS)
        return false;
    }
    for (const auto& u : unresolved_) {
      const pattern_ref ref = p_.refs[u.id];
      std::size_t from = 0;
      if (ref.max_width == pattern_ref::unbounded) {
        auto it =
            std::lower_bound(wide.begin(), wide.end(), u, [](const lookup& a, const unresolved& k) {
              return a.end != k.to ? a.end < k.to : a.id < k.id;
            });
        from = it != wide.end() && it->from != SIZE_MAX ? it->from : 0;
      } else {
        std::size_t ws = u.to > ref.max_width ? u.to - ref.max_width : 0;
        while (ws > 0 && (static_cast<unsigned char>(view[ws]) & 0xC0) == 0x80) --ws;  // UTF-8
        lookup l{u.id, u.to - ws, SIZE_MAX};
        if (hs_scan(p_.som_db.get(), view.data() + ws, static_cast<unsigned>(u.to - ws), 0, scratch,
                    on_lookup, &l) != HS_SUCCESS)
          return false;
        if (l.from == SIZE_MAX && batch_mode_) continue;  // not a match of this message
        from = l.from == SIZE_MAX ? ws : ws + l.from;
      }
      add_known(ref, from, u.to);
    }
    unresolved_.clear();
    return true;
  }

  static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned,
                      void* self) {
    static_cast<part_scan*>(self)->add(id, static_cast<std::size_t>(from),
                                       static_cast<std::size_t>(to));
    return 0;
  }

  // Judges pending dlp candidates. `window` holds the part's bytes [base, base + size);
  // `total` bytes have arrived so far. Candidates ending at `total` wait for the next byte
  // (the boundary check needs it) unless this is the end.
  void resolve(std::string_view window, std::size_t base, std::size_t total, bool final) {
    std::size_t done = 0;
    for (; done < pending_.size(); ++done) {
      const cand& c = pending_[done];
      if (!final && c.e >= total) break;
      judge(c, window, base, total);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
  }

  // Earliest byte a pending candidate still needs (for trimming stream history).
  std::size_t oldest_needed(std::size_t total) const {
    std::size_t oldest = total;
    for (const auto& c : pending_) oldest = std::min(oldest, c.b == 0 ? 0 : c.b - 1);
    return oldest;
  }

  void emit(std::vector<hit>& out, std::size_t attachment) const {
    std::vector<std::uint32_t> order;
    for (const auto& [i, st] : states_)
      if (st.active && !st.accepted.empty()) order.push_back(i);
    std::sort(order.begin(), order.end());
    for (const std::uint32_t i : order) {
      const rule_state& st = states_.at(i);
      const rule& r = p_.model.rules[i];
      std::vector<span_t> kept;
      for (const auto& s : st.accepted) {
        if (r.near) {
          const std::size_t w = r.near->within;
          const bool close = std::any_of(st.near.begin(), st.near.end(), [&](const span_t& k) {
            return k.e + w >= s.b && k.b <= s.e + w;
          });
          if (!close) continue;
        }
        kept.push_back(s);
      }
      if (kept.size() < r.min_count) continue;
      for (const auto& s : kept) {
        hit h;
        h.rule_id = r.id;
        h.pack_name = p_.model.name;
        h.pack_version = p_.model.version;
        h.where = part_;
        h.attachment = attachment;
        h.begin = s.b;
        h.end = s.e;
        h.act = r.act;
        h.sev = r.sev;
        h.message = r.message;
        h.monitor = p_.model.mode == pack_mode::monitor;
        out.push_back(std::move(h));
      }
    }
  }

 private:
  struct cand {
    std::uint32_t rule;
    std::size_t b, e;
  };

  struct rule_state {
    bool active = false;
    std::vector<span_t> accepted;
    std::vector<span_t> near;
  };

  rule_state& state_of(std::uint32_t rule) {
    auto [it, fresh] = states_.try_emplace(rule);
    if (fresh) {
      const auto& r = p_.model.rules[rule];
      it->second.active = scans_part(r, part_) && in_scope(r, ctx_);
    }
    return it->second;
  }

  void add(unsigned id, std::size_t from, std::size_t to) {
    if (id >= p_.refs.size()) return;
    const pattern_ref ref = p_.refs[id];
    if (ref.literal_len != 0) {
      from = to - ref.literal_len;
    } else if (block_mode_ && ref.max_width != 0) {
      if (!state_of(ref.rule).active) return;
      if (unresolved_.size() >= lim_.max_matches_per_part) {
        ++counters_.matches_dropped;
        return;
      }
      unresolved_.push_back({id, to});
      return;
    }
    add_known(ref, from, to);
  }

  void add_known(const pattern_ref ref, std::size_t from, std::size_t to) {
    rule_state& st = state_of(ref.rule);
    if (!st.active) return;
    const std::size_t cap = lim_.max_matches_per_part;
    if (ref.role == pattern_ref::near) {
      merge_into(st.near, from, to, cap, counters_.matches_dropped);
    } else if (p_.model.rules[ref.rule].kind == rule_kind::dlp ||
               p_.model.rules[ref.rule].options.whole_word) {
      if (pending_.size() >= cap) {
        ++counters_.matches_dropped;
        return;
      }
      pending_.push_back({ref.rule, from, to});
    } else {
      merge_into(st.accepted, from, to, cap, counters_.matches_dropped);
    }
  }

  void judge(const cand& c, std::string_view window, std::size_t base, std::size_t total) {
    auto& acc = states_[c.rule].accepted;
    const rule& r = p_.model.rules[c.rule];
    const bool dlp = r.kind == rule_kind::dlp;
    if (dlp && !acc.empty() && c.e <= acc.back().e) return;  // inside a span already taken
    if (c.b < base || c.e > base + window.size()) {
      ++counters_.candidates_too_long;
      return;
    }
    if (!dlp) {  // whole_word keyword / regex
      if (c.b > base && word_at(window, c.b - 1 - base, true)) return;
      if (c.e < base + window.size() && word_at(window, c.e - base, false)) return;
      if (c.e == base + window.size() && c.e < total) return;  // next byte unknown: cannot tell
      merge_into(acc, c.b, c.e, lim_.max_matches_per_part, counters_.matches_dropped);
      return;
    }
    const dlp_detector d = *r.detector;
    const int after = c.e < total && c.e < base + window.size()
                          ? static_cast<unsigned char>(window[c.e - base])
                          : -1;
    if (!validators::boundary_after_ok(d, after)) return;
    // Vectorscan reports the leftmost start for each end, which for "4111...1111 5555...4444"
    // is the first number's start. So the candidate's end is tried with later starts too, at
    // each position where a token may begin (few: the boundary check rules out the rest).
    const bool restartable = d != dlp_detector::private_key;
    const std::size_t floor = acc.empty() ? 0 : acc.back().e;
    for (std::size_t s = std::max(c.b, floor); s < c.e; ++s) {
      if (s > c.b && !restartable) break;
      const int before = s == 0 ? -1 : static_cast<unsigned char>(window[s - 1 - base]);
      if (!validators::boundary_before_ok(d, before)) continue;
      if (!validators::validate(d, window.substr(s - base, c.e - s))) continue;
      if (acc.size() >= lim_.max_matches_per_part) {
        ++counters_.matches_dropped;
        return;
      }
      acc.push_back({s, c.e});
      return;
    }
  }

  const compiled_pack& p_;
  part part_;
  const scan_context& ctx_;
  const scan_limits& lim_;
  scan_counters& counters_;
  std::unordered_map<std::uint32_t, rule_state> states_;
  std::vector<cand> pending_;
  struct unresolved {
    unsigned id;
    std::size_t to;
  };
  std::vector<unresolved> unresolved_;
  bool block_mode_ = false;
  bool batch_mode_ = false;
  bool any_ = false;
  bool needs_bytes_ = false;
};

void fail(scan_result& r, std::string why) {
  if (r.status != scan_status::engine_error) {
    r.status = scan_status::engine_error;
    r.error = std::move(why);
  }
}

void note_limits(scan_result& r) {
  if (r.status == scan_status::ok &&
      (r.counters.matches_dropped != 0 || r.counters.candidates_too_long != 0 ||
       r.counters.archive_limit != 0))
    r.status = scan_status::limit_reached;
}

// One text-like part (message text, URL, attachment name) in block mode.
void scan_block_part(const compiled_pack& p, part which, std::string_view bytes,
                     std::size_t attachment, const scan_context& ctx, const scan_limits& lim,
                     scan_result& out) {
  if (!p.block_db || bytes.empty()) return;
  part_scan ps(p, which, ctx, lim, out.counters);
  if (!ps.any_active()) return;
  ps.set_block_mode();
  const auto masked = masked_if_invalid_utf8(bytes);
  if (masked) ++out.counters.invalid_utf8_parts;
  const std::string_view view = masked ? std::string_view(*masked) : bytes;
  if (view.size() > UINT_MAX) {
    ++out.counters.matches_dropped;  // 4 GiB of chat text: refuse rather than truncate silently
    return;
  }
  hs_scratch_t* scratch = scratch_for(p);
  if (scratch == nullptr) return fail(out, "Vectorscan: cannot allocate scratch");
  const hs_error_t rc = hs_scan(p.block_db.get(), view.data(), static_cast<unsigned>(view.size()),
                                0, scratch, &part_scan::on_match, &ps);
  if (rc != HS_SUCCESS) fail(out, "Vectorscan: hs_scan failed with " + std::to_string(rc));
  if (!ps.resolve_starts(view, scratch)) fail(out, "Vectorscan: start-of-match lookup failed");
  ps.resolve(view, 0, view.size(), true);
  ps.emit(out.hits, attachment);
}

bool version_below(std::string_view v, std::string_view limit) {
  auto next = [](std::string_view& s) -> std::uint64_t {
    std::uint64_t n = 0;
    std::size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && n < 1'000'000'000) {
      n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
      ++i;
    }
    s.remove_prefix(i);
    if (!s.empty() && s.front() == '.') s.remove_prefix(1);
    return n;
  };
  for (int k = 0; k < 8 && (!v.empty() || !limit.empty()); ++k) {
    const auto a = next(v), b = next(limit);
    if (a != b) return a < b;
  }
  return false;
}

// The version following `product` in a User-Agent, when it is below the rule's limit.
std::optional<span_t> old_product(std::string_view ua, const ua_condition& c) {
  const std::string lua = lower(ua), lp = lower(c.product);
  std::size_t pos = 0;
  for (int guard = 0; guard < 64; ++guard) {
    pos = lua.find(lp, pos);
    if (pos == std::string::npos) return std::nullopt;
    const std::size_t after = pos + lp.size();
    const bool starts_token =
        pos == 0 || !(std::isalnum(static_cast<unsigned char>(lua[pos - 1])) != 0);
    std::size_t v = after;
    if (v < lua.size() && (lua[v] == ' ' || lua[v] == '/')) ++v;
    std::size_t ve = v;
    while (ve < lua.size() && ((lua[ve] >= '0' && lua[ve] <= '9') || lua[ve] == '.')) ++ve;
    if (starts_token && ve > v && lua[v] != '.' &&
        version_below(std::string_view(lua).substr(v, ve - v), c.below))
      return span_t{v, ve};
    pos = after;
  }
  return std::nullopt;
}

hit context_hit(const compiled_pack& p, const rule& r, part where, std::size_t b, std::size_t e,
                std::string detail) {
  hit h;
  h.rule_id = r.id;
  h.pack_name = p.model.name;
  h.pack_version = p.model.version;
  h.where = where;
  h.begin = b;
  h.end = e;
  h.act = r.act;
  h.sev = r.sev;
  h.message = r.message;
  h.monitor = p.model.mode == pack_mode::monitor;
  h.detail = std::move(detail);
  return h;
}

bool type_matches(const std::vector<std::string>& wanted, std::string_view type) {
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
    if (!w.empty() && w.back() == '*')
      return type.substr(0, w.size() - 1) == std::string_view(w).substr(0, w.size() - 1);
    return type == w;
  });
}

struct member {
  std::string name;
  std::string type;
};

bool looks_like_archive(std::string_view type) {
  for (std::string_view k : {"zip", "tar", "gzip", "bzip2", "x-xz", "7z", "rar", "cpio", "x-ar",
                             "iso9660", "lzma", "zstd", "compress", "java-archive"})
    if (type.find(k) != std::string_view::npos) return true;
  return false;
}

// Lists archive members (libarchive), opening nested archives up to the depth limit. Stops at
// the member limit; a damaged archive keeps the members listed before the damage.
void list_archive(std::string_view bytes, std::size_t depth, const scan_limits& lim,
                  std::vector<member>& out, scan_counters& counters) {
  struct archive* a = archive_read_new();
  if (a == nullptr) return;
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) {
    archive_read_free(a);
    return;
  }
  struct archive_entry* e = nullptr;
  std::string head(std::min<std::size_t>(lim.magic_bytes, 8192), '\0');
  for (;;) {
    const int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF || rc < ARCHIVE_WARN) break;
    if (out.size() >= lim.archive_max_members) {
      ++counters.archive_limit;
      break;
    }
    member m;
    const char* name = archive_entry_pathname(e);
    m.name = name != nullptr ? name : "";
    if (archive_entry_filetype(e) == AE_IFREG) {
      const la_ssize_t n = archive_read_data(a, head.data(), head.size());
      if (n > 0) {
        std::string first(head.data(), static_cast<std::size_t>(n));
        if (auto t = true_type_of(first)) m.type = *t;
        if (looks_like_archive(m.type)) {
          if (depth + 1 >= lim.archive_max_depth) {
            ++counters.archive_limit;
          } else {
            std::string whole = first;
            std::string buf(64 * 1024, '\0');
            bool too_big = false;
            for (;;) {
              const la_ssize_t k = archive_read_data(a, buf.data(), buf.size());
              if (k <= 0) break;
              if (whole.size() + static_cast<std::size_t>(k) > lim.archive_max_bytes) {
                too_big = true;
                break;
              }
              whole.append(buf.data(), static_cast<std::size_t>(k));
            }
            out.push_back(m);
            if (too_big)
              ++counters.archive_limit;
            else
              list_archive(whole, depth + 1, lim, out, counters);
            continue;
          }
        }
      }
    }
    out.push_back(std::move(m));
  }
  archive_read_free(a);
}

bool glob_matches(const std::vector<std::string>& globs, const std::string& name) {
  const auto slash = name.rfind('/');
  const std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) {
    return fnmatch(g.c_str(), name.c_str(), FNM_CASEFOLD) == 0 ||
           fnmatch(g.c_str(), base.c_str(), FNM_CASEFOLD) == 0;
  });
}

void sort_hits(std::vector<hit>& hits) {
  std::stable_sort(hits.begin(), hits.end(), [](const hit& a, const hit& b) {
    if (a.where != b.where) return a.where < b.where;
    if (a.attachment != b.attachment) return a.attachment < b.attachment;
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.rule_id < b.rule_id;
  });
}

}  // namespace

struct attachment_stream::state {
  state(std::shared_ptr<const compiled_pack> keep_, scan_context ctx_, std::string name_,
        std::size_t index_, scan_limits lim_)
      : keep(std::move(keep_)),
        p(*keep),
        ctx(std::move(ctx_)),
        name(std::move(name_)),
        index(index_),
        lim(lim_),
        content(p, part::attachment_content, ctx, lim, result.counters) {
    crypto_hash_sha256_init(&sha);
    for (const std::uint32_t i : p.file_rules) {
      const rule& r = p.model.rules[i];
      if (!in_scope(r, ctx)) continue;
      file_rules = true;
      if (!r.file.archive_member_names.empty() || !r.file.archive_member_types.empty())
        need_archive = true;
      if (!r.file.sha256.empty()) need_sha = true;
      if (!r.file.true_types.empty()) need_magic = true;
    }
    if (content.any_active() && p.stream_db) {
      if (hs_open_stream(p.stream_db.get(), 0, &stream) != HS_SUCCESS) {
        stream = nullptr;
        fail(result, "Vectorscan: cannot open a stream");
      }
    }
  }
  ~state() {
    if (stream != nullptr) hs_close_stream(stream, nullptr, nullptr, nullptr);
  }

  bool write(std::string_view chunk) {
    if (finished) return false;
    if (file_rules) {
      if (need_sha)
        crypto_hash_sha256_update(&sha, reinterpret_cast<const unsigned char*>(chunk.data()),
                                  chunk.size());
      if (need_magic && head.size() < lim.magic_bytes)
        head.append(chunk.substr(0, lim.magic_bytes - head.size()));
      if (need_archive && !archive_overflow) {
        if (whole.size() + chunk.size() > lim.archive_max_bytes) {
          archive_overflow = true;
          whole.clear();
          whole.shrink_to_fit();
        } else {
          whole.append(chunk);
        }
      }
    }
    if (stream != nullptr) {
      hs_scratch_t* scratch = scratch_for(p);
      if (scratch == nullptr) {
        fail(result, "Vectorscan: cannot allocate scratch");
        return false;
      }
      std::string_view rest = chunk;
      while (!rest.empty()) {
        const std::size_t n = std::min<std::size_t>(rest.size(), 1u << 30);
        const hs_error_t rc = hs_scan_stream(stream, rest.data(), static_cast<unsigned>(n), 0,
                                             scratch, &part_scan::on_match, &content);
        if (rc != HS_SUCCESS) {
          fail(result, "Vectorscan: hs_scan_stream failed with " + std::to_string(rc));
          hs_close_stream(stream, nullptr, nullptr, nullptr);
          stream = nullptr;
          break;
        }
        rest.remove_prefix(n);
      }
    }
    size += chunk.size();
    if (content.needs_bytes()) {
      history.append(chunk);
      content.resolve(history, history_base, size, false);
      // Keep what pending candidates still need, and at least history_bytes.
      const std::size_t keep_from =
          std::min(content.oldest_needed(size),
                   size > lim.history_bytes ? size - lim.history_bytes : std::size_t{0});
      const std::size_t floor = size > 4 * lim.history_bytes ? size - 4 * lim.history_bytes : 0;
      const std::size_t from = std::max(keep_from, floor);  // bounded even with old candidates
      if (from > history_base) {
        history.erase(0, from - history_base);
        history_base = from;
      }
    }
    return result.status != scan_status::engine_error;
  }

  scan_result finish() {
    if (finished) return {};
    finished = true;
    if (stream != nullptr) {
      hs_scratch_t* scratch = scratch_for(p);
      const hs_error_t rc = hs_close_stream(stream, scratch, &part_scan::on_match, &content);
      stream = nullptr;
      if (rc != HS_SUCCESS) fail(result, "Vectorscan: hs_close_stream failed");
    }
    content.resolve(history, history_base, size, true);
    content.emit(result.hits, index);
    scan_block_part(p, part::attachment_name, name, index, ctx, lim, result);
    if (file_rules) file_hits();
    sort_hits(result.hits);
    note_limits(result);
    return std::move(result);
  }

  void file_hits() {
    std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256_final(&sha, digest.data());
    std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
    const std::string sha_hex = hex.data();
    const std::string lname = lower(name);
    std::optional<std::string> type;
    bool type_done = false;
    std::optional<std::vector<member>> members;
    for (const std::uint32_t i : p.file_rules) {
      const rule& r = p.model.rules[i];
      if (!in_scope(r, ctx)) continue;
      const auto& f = r.file;
      std::string detail;
      if (!f.extensions.empty()) {
        const auto ext = std::find_if(f.extensions.begin(), f.extensions.end(), [&](const auto& e) {
          return lname.size() > e.size() &&
                 lname.compare(lname.size() - e.size(), e.size(), e) == 0;
        });
        if (ext == f.extensions.end()) continue;
        detail = "name ends with " + *ext;
      }
      if (f.min_size && size < *f.min_size) continue;
      if (f.max_size && size > *f.max_size) continue;
      if (!f.sha256.empty()) {
        if (std::find(f.sha256.begin(), f.sha256.end(), sha_hex) == f.sha256.end()) continue;
        detail = "sha256 " + sha_hex;
      }
      if (!f.true_types.empty()) {
        if (!type_done) {
          type = true_type_of(head);
          type_done = true;
          if (!type) fail(result, "libmagic: cannot identify the attachment");
        }
        if (!type || !type_matches(f.true_types, *type)) continue;
        detail = "true type " + *type;
      }
      if (!f.archive_member_names.empty() || !f.archive_member_types.empty()) {
        if (archive_overflow) {
          ++result.counters.archive_limit;
          continue;
        }
        if (!members) {
          members.emplace();
          list_archive(whole, 0, lim, *members, result.counters);
        }
        const member* hitm = nullptr;
        for (const auto& m : *members) {
          const bool name_ok =
              f.archive_member_names.empty() || glob_matches(f.archive_member_names, m.name);
          const bool type_ok =
              f.archive_member_types.empty() || type_matches(f.archive_member_types, m.type);
          if (name_ok && type_ok) {
            hitm = &m;
            break;
          }
        }
        if (hitm == nullptr) continue;
        detail =
            "archive member " + hitm->name + (hitm->type.empty() ? "" : " (" + hitm->type + ")");
      }
      result.hits.push_back(context_hit(p, r, part::attachment_content, 0, size, detail));
      result.hits.back().attachment = index;
    }
  }

  std::shared_ptr<const compiled_pack> keep;
  const compiled_pack& p;
  scan_context ctx;
  std::string name;
  std::size_t index;
  scan_limits lim;
  scan_result result;
  part_scan content;
  hs_stream_t* stream = nullptr;
  std::string history;
  std::size_t history_base = 0;
  std::size_t size = 0;
  crypto_hash_sha256_state sha{};
  std::string head;
  std::string whole;
  bool file_rules = false;
  bool need_archive = false;
  bool need_sha = false;    // a rule lists sha256 digests
  bool need_magic = false;  // a rule asks for the true type
  bool archive_overflow = false;
  bool finished = false;
};

attachment_stream::attachment_stream(std::shared_ptr<const compiled_pack> p, scan_context ctx,
                                     std::string name, std::size_t attachment_index,
                                     scan_limits limits)
    : s_(std::make_unique<state>(std::move(p), std::move(ctx), std::move(name), attachment_index,
                                 limits)) {}

attachment_stream::~attachment_stream() = default;

bool attachment_stream::write(std::string_view chunk) {
  return s_->write(chunk);
}

scan_result attachment_stream::finish() {
  return s_->finish();
}

namespace {
// App and user-agent rules: they depend on the context only.
void add_context_hits(const compiled_pack& p, const scan_context& c, scan_result& out) {
  for (const std::uint32_t i : p.context_rules) {
    const rule& r = p.model.rules[i];
    if (!in_scope(r, c)) continue;
    if (r.kind == rule_kind::app) {
      if ((!c.app.empty() && contains_ci(r.app_ids, c.app)) ||
          (!c.app_category.empty() && contains_ci(r.app_categories, c.app_category)))
        out.hits.push_back(
            context_hit(p, r, part::app, 0, c.app.size(), c.app.empty() ? c.app_category : c.app));
    } else if (r.kind == rule_kind::user_agent && !c.user_agent.empty()) {
      if (auto s = old_product(c.user_agent, r.ua))
        out.hits.push_back(
            context_hit(p, r, part::user_agent, s->b, s->e, r.ua.product + " below " + r.ua.below));
    }
  }
}

}  // namespace

scan_result scan(const compiled_pack& p, const scan_input& in, const scan_limits& limits) {
  scan_result out;
  scan_block_part(p, part::text, in.text, 0, in.context, limits, out);
  scan_block_part(p, part::url, in.url, 0, in.context, limits, out);
  // The caller owns `p`; a non-owning shared_ptr lets the stream machinery borrow it.
  const std::shared_ptr<const compiled_pack> borrowed(std::shared_ptr<const compiled_pack>{}, &p);
  for (std::size_t i = 0; i < in.attachments.size(); ++i) {
    attachment_stream::state st(borrowed, in.context, std::string(in.attachments[i].name), i,
                                limits);
    st.write(in.attachments[i].content);
    auto r = st.finish();
    for (auto& h : r.hits) out.hits.push_back(std::move(h));
    out.counters.matches_dropped += r.counters.matches_dropped;
    out.counters.candidates_too_long += r.counters.candidates_too_long;
    out.counters.archive_limit += r.counters.archive_limit;
    out.counters.invalid_utf8_parts += r.counters.invalid_utf8_parts;
    if (r.status == scan_status::engine_error) fail(out, r.error);
  }
  add_context_hits(p, in.context, out);
  sort_hits(out.hits);
  note_limits(out);
  return out;
}

namespace {

// scan_texts' batch path: messages (masked like scan_block_part does) are joined with '\n'
// into buffers of about batch_bytes and each buffer is scanned with one hs_scan call. Every
// match is then given to the message holding its last byte; a match that began before that
// message (it crossed a separator) is never one of the message's own matches:
// - ASCII literals: their start is end - length, checked directly;
// - bounded regexes: the start lookup (resolve_starts) only looks inside the message, and a
//   match without a start there is dropped;
// - unbounded regexes: that message is scanned again on its own;
// - expressions Vectorscan reports the start of (in a batchable pack only a safety net: the
//   ones left are anchored): the leftmost start across the buffer is the message's own when it
//   lies inside the message; otherwise that message is scanned again on its own.
// Nothing is missed by joining: without anchors (compiled_pack::batchable) a match inside a
// message is a match inside the buffer, and '\n' reads as a non-word edge like the text's end.
constexpr std::size_t batch_bytes = 256 * 1024;

struct raw_match {
  unsigned id;
  std::size_t from, to;
  std::size_t member;  // index into the batch's members
};

struct batch_collector {
  std::vector<raw_match>* matches;
  std::size_t cap;
  bool overflow = false;
};

int collect_match(unsigned id, unsigned long long from, unsigned long long to, unsigned,
                  void* ctx) {
  auto* c = static_cast<batch_collector*>(ctx);
  if (c->matches->size() >= c->cap) {
    c->overflow = true;
    return 1;  // stop: the members are scanned one by one instead
  }
  c->matches->push_back({id, static_cast<std::size_t>(from), static_cast<std::size_t>(to), 0});
  return 0;
}

void scan_text_batch(const compiled_pack& p, std::span<const std::string_view> texts,
                     const scan_context& ctx, const scan_limits& lim,
                     std::vector<scan_result>& out) {
  auto alone = [&](std::size_t i) {
    out[i].counters.invalid_utf8_parts = 0;  // counted again by scan_block_part
    scan_block_part(p, part::text, texts[i], 0, ctx, lim, out[i]);
  };
  {
    scan_counters unused;
    if (!part_scan(p, part::text, ctx, lim, unused).any_active()) return;
  }
  thread_local std::string buf;
  thread_local std::vector<std::size_t> starts, members;
  thread_local std::vector<raw_match> matches;
  std::size_t next = 0;
  while (next < texts.size()) {
    buf.clear();
    starts.clear();
    members.clear();
    while (next < texts.size() && buf.size() + texts[next].size() < batch_bytes) {
      const std::size_t i = next++;
      if (texts[i].empty()) continue;
      starts.push_back(buf.size());
      members.push_back(i);
      buf += texts[i];
      buf += '\n';
    }
    // Masked in place, in one pass over the buffer: a sequence cut short at a text's end meets
    // the '\n' (never a continuation byte), so the same bytes are masked as text by text.
    std::size_t last_marked = SIZE_MAX;
    for_each_invalid_utf8(buf, [&](std::size_t at) {
      buf[at] = '?';
      const auto k = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), at) -
                                              starts.begin()) -
                     1;
      if (k != last_marked) ++out[members[k]].counters.invalid_utf8_parts;
      last_marked = k;
    });
    if (members.empty()) {  // a text of batch_bytes or more: on its own
      alone(next++);
      continue;
    }
    hs_scratch_t* scratch = scratch_for(p);
    if (scratch == nullptr) {
      for (const std::size_t i : members) fail(out[i], "Vectorscan: cannot allocate scratch");
      continue;
    }
    matches.clear();
    batch_collector col{&matches, lim.max_matches_per_part * members.size()};
    const hs_error_t rc = hs_scan(p.block_db.get(), buf.data(), static_cast<unsigned>(buf.size()),
                                  0, scratch, &collect_match, &col);
    if (col.overflow || (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED)) {
      for (const std::size_t i : members) alone(i);
      continue;
    }
    // The member holding each match's last byte; a match ending on a separator belongs to none.
    std::size_t kept = 0;
    for (auto& m : matches) {
      const auto it = std::upper_bound(starts.begin(), starts.end(), m.to - 1);
      const auto k = static_cast<std::size_t>(it - starts.begin()) - 1;
      if (m.to - 1 >= starts[k] + texts[members[k]].size()) continue;
      m.member = k;
      matches[kept++] = m;
    }
    matches.resize(kept);
    std::stable_sort(matches.begin(), matches.end(),
                     [](const raw_match& a, const raw_match& b) { return a.member < b.member; });
    for (std::size_t g = 0; g < matches.size();) {
      const std::size_t k = matches[g].member;
      std::size_t e = g;
      while (e < matches.size() && matches[e].member == k) ++e;
      const std::size_t i = members[k], base = starts[k];
      bool own = e - g < lim.max_matches_per_part;
      for (std::size_t j = g; j < e && own; ++j) {
        const pattern_ref& ref = p.refs[matches[j].id];
        if (ref.literal_len == 0 && ref.max_width == 0 && matches[j].from < base) own = false;
        if (ref.max_width == pattern_ref::unbounded) own = false;
      }
      if (!own) {
        alone(i);
        g = e;
        continue;
      }
      const std::string_view view(buf.data() + base, texts[i].size());
      part_scan ps(p, part::text, ctx, lim, out[i].counters);
      ps.set_batch_mode();
      for (std::size_t j = g; j < e; ++j) {
        const raw_match& m = matches[j];
        const pattern_ref& ref = p.refs[m.id];
        if (ref.literal_len != 0 && m.to - ref.literal_len < base) continue;
        ps.add_match(m.id, m.from >= base ? m.from - base : 0, m.to - base);
      }
      if (!ps.resolve_starts(view, scratch))
        fail(out[i], "Vectorscan: start-of-match lookup failed");
      ps.resolve(view, 0, view.size(), true);
      ps.emit(out[i].hits, 0);
      g = e;
    }
  }
}

}  // namespace

std::vector<scan_result> scan_texts(const compiled_pack& p, std::span<const std::string_view> texts,
                                    const scan_context& ctx, const scan_limits& limits) {
  std::vector<scan_result> out(texts.size());
  if (p.block_db && p.batchable && texts.size() > 1) {
    scan_text_batch(p, texts, ctx, limits, out);
  } else {
    for (std::size_t i = 0; i < texts.size(); ++i)
      scan_block_part(p, part::text, texts[i], 0, ctx, limits, out[i]);
  }
  for (auto& r : out) {
    if (!p.context_rules.empty()) add_context_hits(p, ctx, r);
    if (r.hits.size() > 1) sort_hits(r.hits);
    note_limits(r);
  }
  return out;
}

scan_input input_for_example(const rule& r, const example& ex) {
  scan_input in;
  const auto parts = effective_parts(r);
  std::string_view att_name, att_content;
  bool att = false;
  if (ex.text) {
    const bool content_rule =
        r.kind == rule_kind::keyword || r.kind == rule_kind::regex || r.kind == rule_kind::dlp;
    const part to = content_rule && !scans_part(r, part::text) ? parts.front() : part::text;
    switch (to) {
      case part::url:
        in.url = *ex.text;
        break;
      case part::attachment_name:
        att_name = *ex.text;
        att = true;
        break;
      case part::attachment_content:
        att_content = *ex.text;
        att = true;
        break;
      default:
        in.text = *ex.text;
        break;
    }
  }
  if (ex.url) in.url = *ex.url;
  if (ex.attachment_name) {
    att_name = *ex.attachment_name;
    att = true;
  }
  if (ex.content) {
    att_content = *ex.content;
    att = true;
  }
  if (att) in.attachments.push_back({att_name, att_content});
  auto& c = in.context;
  const auto& s = r.scope;
  c.dir = ex.dir ? *ex.dir : (s.dir != direction::any ? s.dir : direction::outbound);
  c.app = ex.app ? *ex.app : (s.apps.empty() ? "" : s.apps.front());
  c.app_category = ex.app_category.value_or("");
  c.transport = ex.transport ? *ex.transport : (s.transports.empty() ? "" : s.transports.front());
  c.user = ex.user ? *ex.user : (s.users.empty() ? "" : s.users.front());
  if (!ex.groups.empty())
    c.groups = ex.groups;
  else if (!s.groups.empty())
    c.groups = {s.groups.front()};
  c.user_agent = ex.user_agent.value_or("");
  return in;
}

namespace {
std::string shown(const example& ex) {
  std::string s;
  if (ex.text)
    s = *ex.text;
  else if (ex.attachment_name)
    s = "file " + *ex.attachment_name;
  else if (ex.content)
    s = "content (" + std::to_string(ex.content->size()) + " bytes)";
  else if (ex.url)
    s = *ex.url;
  else if (ex.app)
    s = "app " + *ex.app;
  else if (ex.app_category)
    s = "category " + *ex.app_category;
  else if (ex.user_agent)
    s = "UA " + *ex.user_agent;
  std::string out;
  for (char ch : s) {
    if (out.size() >= 60) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(ch);
    out += (u < 0x20 || u == 0x7F) ? '.' : ch;
  }
  return out;
}
}  // namespace

std::vector<example_outcome> run_examples(const compiled_pack& p) {
  std::vector<example_outcome> out;
  for (const auto& r : p.model.rules) {
    for (int must = 1; must >= 0; --must) {
      const auto& list = must == 1 ? r.must_match : r.must_not_match;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const auto in = input_for_example(r, list[i]);
        const auto res = scan(p, in);
        const bool hit_rule = std::any_of(res.hits.begin(), res.hits.end(),
                                          [&](const hit& h) { return h.rule_id == r.id; });
        out.push_back(
            {r.id, must == 1, i, list[i].where, must == 1 ? hit_rule : !hit_rule, shown(list[i])});
      }
    }
  }
  return out;
}

}  // namespace imcap::signatures
