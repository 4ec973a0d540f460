#pragma once
// The [signatures] section of imcapd.toml: pack store, signing policy, ClamAV. imcapd's config
// loader (icap/) knows nothing of it; it hands the raw tables of the section here, first the
// embedded defaults, then the file, and this parser validates every key.
//
// Errors throw settings_error: "file:line:column: signatures.key: reason".

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "signatures/clamav_engine.hpp"
#include "signatures/signing.hpp"

namespace imcap::signatures {

class settings_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct signatures_settings {
  std::filesystem::path store_dir = "var/packs";         // installed packs, `active` pointers
  std::filesystem::path cache_dir = "var/cache/packs";   // compiled Vectorscan databases
  bool require_signed = false;                           // install/load only signed packs
  std::vector<std::filesystem::path> trusted_key_paths;  // as configured (.pub files or dirs)
  std::vector<public_key> trusted_keys;                  // read from trusted_key_paths
  bool clamav_enabled = true;
  clamav_settings clamav = default_clamav();

  static clamav_settings default_clamav() {
    clamav_settings c;
    c.database_dirs = {"signatures/clamav"};
    return c;
  }
};

// Applies one [signatures] table over `s`. `file` names the table's source in errors.
void apply_signatures_table(const toml::table& section, const std::string& file,
                            signatures_settings& s);

// Checks what needs the whole picture (require_signed without keys). Call after the last
// apply_signatures_table. Throws settings_error naming `file`.
void finish_signatures_settings(signatures_settings& s, const std::string& file);

// For imcapctl: defaults, overlaid with the [signatures] table of `config_file` (if it has one).
signatures_settings load_signatures_settings(const std::filesystem::path& config_file);

}  // namespace imcap::signatures
