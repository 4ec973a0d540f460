#pragma once
// The [archive] section of imcapd.toml. imcapd's config loader (icap/) hands the raw tables of the
// section here, first the embedded defaults, then the file; this parser validates every key.
// `imcapctl archive` reads the same section from --config (or uses the defaults, which equal the
// documented ones in conf/imcapd.toml; a test checks they agree).
//
// Errors throw settings_error: "file:line:column: archive.key: reason".

#include <filesystem>
#include <stdexcept>
#include <string>

#include <toml++/toml.h>

#include "archive/archive.hpp"

namespace imcap::archive {

class settings_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Applies one [archive] table over `s`. `file` names the table's source in errors.
void apply_archive_table(const toml::table& section, const std::string& file, settings& s);

// Checks what needs the whole picture (map_size_max >= map_size_initial). Call after the last
// apply_archive_table. Throws settings_error naming `file`.
void finish_archive_settings(const settings& s, const std::string& file);

// For imcapctl: defaults, overlaid with the [archive] table of `config_file` (if it has one).
settings load_archive_settings(const std::filesystem::path& config_file);

}  // namespace imcap::archive
