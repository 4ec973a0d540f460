#pragma once
// The pack store: installed versions of each signature pack and which one is active.
//
// Layout under the store directory (default var/packs):
//   <name>/<version>/pack.toml       the pack exactly as installed (the signed bytes)
//   <name>/<version>/pack.toml.sig   its signature, when it had one
//   <name>/active                    the active version, one line; replaced by rename, so a
//                                    reader (imcapd on SIGHUP) sees the old or the new, never
//                                    half of one
//   <name>/history                   versions made active, oldest first (what rollback walks)
// Names and versions become directory names, so both must match [A-Za-z0-9._-]+ (not "." or
// "..").
//
// Errors throw store_error; problems() holds every reason, one line each (for a pack that does
// not compile, the loader's file:line:column lines). Nothing is changed in the store when an
// operation fails. Concurrency: one writer at a time (imcapctl); readers (imcapd) only read
// `active` and the files it names.

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "signatures/signing.hpp"

namespace imcap::signatures {

class store_error : public std::runtime_error {
 public:
  explicit store_error(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

struct install_policy {
  bool require_signed = false;      // refuse packs without a valid signature by a trusted key
  std::vector<public_key> trusted;  // a .sig present is always checked against these
  std::filesystem::path cache_dir;  // handed to load_pack
};

struct installed_version {
  std::string version;
  std::string signed_by;  // key id from the .sig, empty when unsigned
  bool active = false;
};

struct installed_pack {
  std::string name;
  std::vector<installed_version> versions;  // sorted by name
  std::string active;                       // empty when none is active
};

struct install_outcome {
  std::string name;
  std::string version;
  std::string sha256;
  std::size_t rules = 0;
  std::string signed_by;           // key id, empty when unsigned
  bool already_installed = false;  // same name, version and bytes were there: just activated
  std::string previous_active;     // empty when the pack was new
};

class pack_store {
 public:
  explicit pack_store(std::filesystem::path dir);

  const std::filesystem::path& dir() const noexcept { return dir_; }

  // Checks the signature (policy), loads and compiles the pack (load_pack), copies pack and
  // .sig into the store and makes it active. Refuses: unsigned when required, a bad or
  // untrusted signature, a pack that does not compile, a version already installed with
  // different bytes, a file that changed while being installed.
  install_outcome install(const std::filesystem::path& file, const install_policy& policy);

  std::vector<installed_pack> list() const;

  // Makes the version active before the current one (per history) active again. Returns it.
  std::string rollback(const std::string& name);

  // The active pack file of every pack that has one, sorted by pack name.
  struct active_file {
    std::string name;
    std::string version;
    std::filesystem::path file;
  };
  std::vector<active_file> active_files() const;

 private:
  std::filesystem::path dir_;
};

// sha256 of bytes as lowercase hex (libsodium).
std::string sha256_hex(std::span<const unsigned char> bytes);

}  // namespace imcap::signatures
