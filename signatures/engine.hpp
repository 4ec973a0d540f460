#pragma once
// The contract between the pack compiler (signatures/ pack loader + Vectorscan) and the parts
// that install, reload and serve packs (pack store, imcapd hot reload). Implemented in
// signatures/engine.cpp; the full scanner API lives in its own headers.

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace imcap::signatures {

// A pack that cannot be loaded or compiled. what() holds every problem, one per line, each as
// `file:line:column: reason`.
class pack_error : public std::runtime_error {
 public:
  explicit pack_error(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

struct compile_options {
  // Where compiled Vectorscan databases are cached, keyed by the pack's hash. Empty: no cache.
  std::filesystem::path cache_dir;
};

// A loaded, validated and compiled pack: immutable, shared by all scanning threads.
class compiled_pack;

// Loads `file`, validates every rule and compiles the databases. Throws pack_error (never
// returns a half-loaded pack). Blocking: call it off the I/O threads.
std::shared_ptr<const compiled_pack> load_pack(const std::filesystem::path& file,
                                               const compile_options& opts = {});

// Identity of a compiled pack, for ISTag, logs and `sigpack list`.
struct pack_identity {
  std::string name;
  std::string version;
  std::string sha256;  // hex digest of the pack file's bytes
  std::size_t rules = 0;
};
pack_identity identity_of(const compiled_pack& p);

// Whether load_pack took the Vectorscan databases from compile_options::cache_dir instead of
// compiling them (a missing, stale or corrupt cache file is rebuilt and rewritten).
bool loaded_from_cache(const compiled_pack& p);

}  // namespace imcap::signatures
