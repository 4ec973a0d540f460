// load_pack: parse (loader.cpp), turn every rule into Vectorscan expressions, compile one block
// database (text parts) and one streaming database (attachment content), or take both from the
// on-disk cache. A rejected expression becomes a `file:line:column` problem with Vectorscan's
// own message; nothing is returned unless everything compiled.

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "signatures/compiled_impl.hpp"
#include "signatures/validators.hpp"

namespace imcap::signatures {

namespace {

// Bump when the way rules become expressions changes: old cache files then stop matching.
constexpr std::string_view expression_format = "imcap-sig-6";

struct expression {
  std::string text;
  unsigned flags = 0;  // without the per-database flags below
  pattern_ref ref;
  source_pos where;
  unsigned block_extra = 0;   // added for the block (text) database
  unsigned stream_extra = 0;  // added for the streaming (attachment) database
};

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Whether a regex means the same matched as bytes as it does as UTF-8 with Unicode
// properties: only ASCII, no '.', no negated class, no \w \s \d \b-style escapes. On valid
// UTF-8 such a pattern can only match ASCII bytes, which never occur inside a multibyte
// sequence, so the faster byte mode finds exactly the same matches.
bool byte_safe_regex(std::string_view re) {
  if (!ascii(re)) return false;
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '.') return false;
    if (c == '[' && i + 1 < re.size() && re[i + 1] == '^') return false;
    if (c == '\\' && i + 1 < re.size()) {
      const char n = re[++i];
      if (std::string_view("wWsSdDbBpPXCNhHvVRK").find(n) != std::string_view::npos) return false;
    }
  }
  return true;
}

// Fills the per-database flags. ASCII literals run in byte mode without start tracking (their
// start is end - length); everything else tracks the start, and only what needs it runs in
// UTF-8/UCP mode in the text database. (Byte-mode caseless matching folds ASCII only: "k" does
// not match U+212A KELVIN SIGN, which is what a keyword author expects.)
expression finish(expression e, bool literal, std::string_view source) {
  if (literal && ascii(source) && !source.empty()) {
    e.ref.literal_len = static_cast<std::uint32_t>(source.size());
    return e;
  }
  e.stream_extra = HS_FLAG_SOM_LEFTMOST;
  e.block_extra = HS_FLAG_SOM_LEFTMOST;
  // Non-ASCII patterns mean characters, in attachments too ("é{1,4}" is not "\xc3\xa9{1,4}").
  // Text parts are made valid UTF-8 before scanning; attachment bytes cannot be (they stream),
  // so on binary content these patterns match on a best-effort basis.
  if (!(literal ? ascii(source) : byte_safe_regex(source))) {
    e.block_extra |= HS_FLAG_UTF8 | HS_FLAG_UCP;
    e.stream_extra |= HS_FLAG_UTF8 | HS_FLAG_UCP;
  }
  return e;
}

// A literal as a Vectorscan expression: ASCII punctuation escaped as \xHH, everything else
// (letters, digits, UTF-8 sequences) as is.
std::string literal_expression(std::string_view lit) {
  std::string out;
  out.reserve(lit.size() * 2);
  static constexpr char hex[] = "0123456789abcdef";
  for (char c : lit) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain =
        u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (plain) {
      out += c;
    } else {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

std::vector<expression> expressions_of(const pack& p) {
  std::vector<expression> out;
  for (std::uint32_t i = 0; i < p.rules.size(); ++i) {
    const rule& r = p.rules[i];
    unsigned flags = 0;
    if (r.options.case_insensitive) flags |= HS_FLAG_CASELESS;
    if (r.options.dotall) flags |= HS_FLAG_DOTALL;
    // whole_word is not part of the expression: it is checked on the match's neighbours
    // (scanner.cpp), since Vectorscan has no \\b in UCP mode and the check has to agree between
    // UTF-8 and byte-mode expressions.
    switch (r.kind) {
      case rule_kind::keyword:
        for (const auto& pt : r.patterns)
          out.push_back(
              finish({literal_expression(pt.text), flags, {i, pattern_ref::match}, pt.where}, true,
                     pt.text));
        break;
      case rule_kind::regex:
        for (const auto& pt : r.patterns)
          out.push_back(
              finish({pt.text, flags, {i, pattern_ref::match}, pt.where}, false, pt.text));
        break;
      case rule_kind::dlp: {
        const auto c = validators::candidate_for(*r.detector);
        out.push_back(finish({std::string(c.expression),
                              c.caseless ? unsigned{HS_FLAG_CASELESS} : 0u,
                              {i, pattern_ref::match},
                              r.where},
                             false, c.expression));
        break;
      }
      default:
        break;
    }
    if (r.near)
      for (const auto& k : r.near->keywords)
        out.push_back(finish(
            {literal_expression(k), HS_FLAG_CASELESS, {i, pattern_ref::near}, r.where}, true, k));
  }
  return out;
}

// Bounded, unanchored regexes leave start tracking to som_db in the text database (see
// pattern_ref::max_width). Anchors and word boundaries would read the lookup window's edge as
// the text's edge, so those keep Vectorscan's own start tracking.
void plan_start_lookups(std::vector<expression>& exprs) {
  constexpr unsigned max_lookup = 2048;
  for (auto& e : exprs) {
    if (e.ref.literal_len != 0) continue;
    bool anchored = false;
    for (std::size_t i = 0; i < e.text.size(); ++i) {
      const char c = e.text[i];
      if (c == '$' || (c == '^' && (i == 0 || e.text[i - 1] != '['))) anchored = true;
      if (c == '\\' && i + 1 < e.text.size()) {
        if (std::string_view("bBAzZG").find(e.text[i + 1]) != std::string_view::npos)
          anchored = true;
        ++i;
      }
    }
    if (anchored) continue;
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_expression_info(e.text.c_str(), e.flags | e.block_extra, &info, &err) == HS_SUCCESS &&
        info != nullptr && info->max_width != 0) {
      // Unbounded: one prefix pass finds the starts (pattern_ref::unbounded).
      e.ref.max_width = info->max_width <= max_lookup ? info->max_width : pattern_ref::unbounded;
      e.block_extra &= ~unsigned{HS_FLAG_SOM_LEFTMOST};
    }
    if (err != nullptr) hs_free_compile_error(err);
    std::free(info);
  }
}

// Whether an expression can only match at the edges of the text (or of a line): ^ $ \A \z \Z
// \G. Conservative: a '^' or '$' inside a class also counts (it only turns batching off).
bool has_anchor(std::string_view re) {
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\') {
      if (i + 1 < re.size() && std::string_view("AzZG").find(re[i + 1]) != std::string_view::npos)
        return true;
      ++i;
    } else if (c == '$' || (c == '^' && (i == 0 || re[i - 1] != '['))) {
      return true;
    }
  }
  return false;
}

std::string where(const pack& p, source_pos at) {
  return p.file.string() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": ";
}

struct compile_error_deleter {
  void operator()(hs_compile_error_t* e) const noexcept { hs_free_compile_error(e); }
};

enum class db_kind { block, stream, som, wide };

hs_db_ptr compile(const pack& p, const std::vector<expression>& exprs, db_kind kind,
                  std::vector<std::string>& problems) {
  const bool stream = kind == db_kind::stream;
  const unsigned mode = stream ? HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE : HS_MODE_BLOCK;
  std::vector<const char*> texts;
  std::vector<unsigned> flags, ids;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    if (kind == db_kind::som && exprs[i].ref.max_width == 0) continue;
    if (kind == db_kind::wide && exprs[i].ref.max_width != pattern_ref::unbounded) continue;
    texts.push_back(exprs[i].text.c_str());
    unsigned f = exprs[i].flags;
    if (kind == db_kind::stream) f |= exprs[i].stream_extra;
    if (kind == db_kind::block) f |= exprs[i].block_extra;
    if (kind == db_kind::som || kind == db_kind::wide)
      f |= exprs[i].block_extra | HS_FLAG_SOM_LEFTMOST;
    flags.push_back(f);
    ids.push_back(static_cast<unsigned>(i));
  }
  if (texts.empty()) return nullptr;
  hs_database_t* db = nullptr;
  hs_compile_error_t* raw_err = nullptr;
  const hs_error_t rc =
      hs_compile_multi(texts.data(), flags.data(), ids.data(), static_cast<unsigned>(texts.size()),
                       mode, nullptr, &db, &raw_err);
  std::unique_ptr<hs_compile_error_t, compile_error_deleter> err(raw_err);
  if (rc == HS_SUCCESS) return hs_db_ptr(db);
  const std::string msg = err && err->message ? err->message : "compile failed";
  if (err && err->expression >= 0 && static_cast<std::size_t>(err->expression) < ids.size()) {
    const auto& e = exprs[ids[static_cast<std::size_t>(err->expression)]];
    const rule& r = p.rules[e.ref.rule];
    problems.push_back(where(p, e.where) + "rule '" + r.id + "': Vectorscan rejects /" + e.text +
                       "/" + ((mode & HS_MODE_STREAM) != 0 ? " (streaming)" : "") + ": " + msg);
  } else {
    problems.push_back(where(p, {1, 1}) + "Vectorscan: " + msg);
  }
  return nullptr;
}

// Checks every expression on its own first, so all bad regexes are reported at once.
void check_each(const pack& p, const std::vector<expression>& exprs,
                std::vector<std::string>& problems) {
  for (const auto& e : exprs) {
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* raw_err = nullptr;
    const hs_error_t rc =
        hs_expression_info(e.text.c_str(), e.flags | e.block_extra, &info, &raw_err);
    std::unique_ptr<hs_compile_error_t, compile_error_deleter> err(raw_err);
    if (rc != HS_SUCCESS) {
      const rule& r = p.rules[e.ref.rule];
      problems.push_back(where(p, e.where) + "rule '" + r.id + "': Vectorscan rejects /" + e.text +
                         "/: " + (err && err->message ? err->message : "invalid expression"));
    }
    std::free(info);
  }
}

std::string hex(const unsigned char* d, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), d, n);
  out.pop_back();
  return out;
}

// Hash of everything the compiled bytes depend on besides the pack: Vectorscan version, this
// CPU's platform as Vectorscan sees it, and the exact expressions and flags.
std::string cache_key(const pack& p, const std::vector<expression>& exprs) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  auto feed = [&](const void* d, std::size_t n) {
    crypto_generichash_update(&st, static_cast<const unsigned char*>(d), n);
  };
  feed(expression_format.data(), expression_format.size());
  const char* v = hs_version();
  feed(v, std::strlen(v));
  hs_platform_info_t plat{};
  if (hs_populate_platform(&plat) == HS_SUCCESS) feed(&plat, sizeof plat);
  for (const auto& e : exprs) {
    feed(e.text.data(), e.text.size() + 1);
    feed(&e.flags, sizeof e.flags);
    feed(&e.block_extra, sizeof e.block_extra);
    feed(&e.stream_extra, sizeof e.stream_extra);
    feed(&e.ref.literal_len, sizeof e.ref.literal_len);
    feed(&e.ref.max_width, sizeof e.ref.max_width);
    feed(&e.ref.rule, sizeof e.ref.rule);
    feed(&e.ref.role, sizeof e.ref.role);
  }
  std::array<unsigned char, 16> out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return p.sha256 + "-" + hex(out.data(), out.size()) + ".hsdb";
}

constexpr std::array<char, 8> cache_magic{'I', 'M', 'C', 'A', 'P', 'H', 'S', '3'};

struct serialized {
  char* bytes = nullptr;
  std::size_t size = 0;
  ~serialized() { std::free(bytes); }
};

// File: magic | u64 size of each of the 4 databases (0: none) | 32-byte BLAKE2b of the
// payload | block | stream | som | wide.
constexpr std::size_t n_dbs = 4;
constexpr std::size_t cache_header = 8 + n_dbs * 8 + 32;

bool read_cache(const std::filesystem::path& f, compiled_pack& out) {
  std::ifstream in(f, std::ios::binary);
  if (!in) return false;
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < cache_header || std::memcmp(all.data(), cache_magic.data(), 8) != 0)
    return false;
  std::array<std::uint64_t, n_dbs> sizes{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n_dbs; ++i) {
    std::memcpy(&sizes[i], all.data() + 8 + 8 * i, 8);
    if (sizes[i] > all.size()) return false;
    total += sizes[i];
  }
  if (cache_header + total != all.size()) return false;
  std::array<unsigned char, 32> sum{};
  crypto_generichash(sum.data(), sum.size(),
                     reinterpret_cast<const unsigned char*>(all.data() + cache_header), total,
                     nullptr, 0);
  if (std::memcmp(sum.data(), all.data() + 8 + n_dbs * 8, 32) != 0) return false;
  std::array<hs_db_ptr, n_dbs> dbs;
  std::size_t at = cache_header;
  for (std::size_t i = 0; i < n_dbs; ++i) {
    if (sizes[i] != 0) {
      hs_database_t* d = nullptr;
      if (hs_deserialize_database(all.data() + at, sizes[i], &d) != HS_SUCCESS) return false;
      dbs[i].reset(d);
    }
    at += sizes[i];
  }
  if (!dbs[0] || !dbs[1]) return false;
  out.block_db = std::move(dbs[0]);
  out.stream_db = std::move(dbs[1]);
  out.som_db = std::move(dbs[2]);
  out.wide_db = std::move(dbs[3]);
  return true;
}

void write_cache(const std::filesystem::path& f, const compiled_pack& c) {
  std::array<serialized, n_dbs> ser;
  const std::array<const hs_database_t*, n_dbs> dbs{c.block_db.get(), c.stream_db.get(),
                                                    c.som_db.get(), c.wide_db.get()};
  std::string all(cache_magic.begin(), cache_magic.end());
  std::string payload;
  for (std::size_t i = 0; i < n_dbs; ++i) {
    if (dbs[i] != nullptr &&
        hs_serialize_database(dbs[i], &ser[i].bytes, &ser[i].size) != HS_SUCCESS) {
      spdlog::warn("signatures: cannot serialize databases for {}", f.string());
      return;
    }
    const std::uint64_t n = ser[i].size;
    all.append(reinterpret_cast<const char*>(&n), 8);
    payload.append(ser[i].bytes == nullptr ? "" : ser[i].bytes, ser[i].size);
  }
  std::array<unsigned char, 32> sum{};
  crypto_generichash(sum.data(), sum.size(), reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size(), nullptr, 0);
  all.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  all += payload;
  std::error_code ec;
  std::filesystem::create_directories(f.parent_path(), ec);
  // Written aside and renamed, so a reader never sees half a file.
  auto tmp = f;
  tmp += ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    o.write(all.data(), static_cast<std::streamsize>(all.size()));
    if (!o) {
      spdlog::warn("signatures: cannot write cache file {}", tmp.string());
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, f, ec);
  if (ec) {
    spdlog::warn("signatures: cannot install cache file {}: {}", f.string(), ec.message());
    std::filesystem::remove(tmp, ec);
  }
}

void prepare_scratch(compiled_pack& c) {
  static std::atomic<std::uint64_t> next_serial{1};
  c.serial = next_serial++;
  hs_scratch_t* s = nullptr;
  if (hs_alloc_scratch(c.block_db.get(), &s) != HS_SUCCESS ||
      hs_alloc_scratch(c.stream_db.get(), &s) != HS_SUCCESS ||
      (c.som_db && hs_alloc_scratch(c.som_db.get(), &s) != HS_SUCCESS) ||
      (c.wide_db && hs_alloc_scratch(c.wide_db.get(), &s) != HS_SUCCESS)) {
    if (s != nullptr) hs_free_scratch(s);
    throw pack_error({c.model.file.string() + ":1:1: cannot allocate Vectorscan scratch space"});
  }
  c.scratch_prototype.reset(s);
}

}  // namespace

std::shared_ptr<const compiled_pack> load_pack(const std::filesystem::path& file,
                                               const compile_options& opts) {
  static const int sodium_ready = sodium_init();
  (void)sodium_ready;
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      throw pack_error(
          {file.string() + ":1:1: cannot read the pack file: " + std::strerror(errno)});
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  auto out = std::make_shared<compiled_pack>();
  out->model = parse_pack(bytes, file);
  out->index();
  const pack& p = out->model;
  auto exprs = expressions_of(p);
  plan_start_lookups(exprs);
  for (const auto& e : exprs) out->refs.push_back(e.ref);
  out->batchable = std::none_of(exprs.begin(), exprs.end(),
                                [](const expression& e) { return has_anchor(e.text); });
  if (exprs.empty()) return out;  // only file / app / user_agent rules: nothing for Vectorscan

  std::filesystem::path cache_file;
  if (!opts.cache_dir.empty()) {
    cache_file = opts.cache_dir / cache_key(p, exprs);
    if (read_cache(cache_file, *out)) {
      out->loaded_from_cache = true;
      prepare_scratch(*out);
      return out;
    }
  }
  std::vector<std::string> problems;
  check_each(p, exprs, problems);
  if (!problems.empty()) throw pack_error(std::move(problems));
  out->block_db = compile(p, exprs, db_kind::block, problems);
  if (out->block_db) out->stream_db = compile(p, exprs, db_kind::stream, problems);
  if (out->stream_db) out->som_db = compile(p, exprs, db_kind::som, problems);
  if (out->stream_db) out->wide_db = compile(p, exprs, db_kind::wide, problems);
  if (!problems.empty()) throw pack_error(std::move(problems));
  if (!cache_file.empty()) write_cache(cache_file, *out);
  prepare_scratch(*out);
  return out;
}

void compiled_pack::index() {
  for (std::uint32_t i = 0; i < model.rules.size(); ++i) {
    const rule& r = model.rules[i];
    switch (r.kind) {
      case rule_kind::file:
        file_rules.push_back(i);
        break;
      case rule_kind::app:
      case rule_kind::user_agent:
        context_rules.push_back(i);
        break;
      default: {
        const auto& s = r.scope;
        const bool unscoped = s.dir == direction::any && s.apps.empty() && s.transports.empty() &&
                              s.users.empty() && s.groups.empty();
        for (part pt : effective_parts(r)) {
          auto& pr = content_rules[static_cast<std::size_t>(pt)];
          pr.rules.push_back(i);
          pr.any_unscoped = pr.any_unscoped || unscoped;
          pr.needs_bytes = pr.needs_bytes || r.kind == rule_kind::dlp || r.options.whole_word;
        }
      }
    }
  }
}

pack_identity identity_of(const compiled_pack& p) {
  return {p.model.name, p.model.version, p.model.sha256, p.model.rules.size()};
}

bool loaded_from_cache(const compiled_pack& p) {
  return p.loaded_from_cache;
}

}  // namespace imcap::signatures
