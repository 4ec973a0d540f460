#include "signatures/settings.hpp"

#include <chrono>
#include <cstdint>

#include "common/toml_fields.hpp"

namespace imcap::signatures {

namespace {

const toml_fields::section<settings_error> field{"signatures"};

std::vector<std::filesystem::path> paths(const std::string& file, const toml::node& n,
                                         std::string_view key) {
  const auto* arr = n.as_array();
  if (arr == nullptr) field.fail(file, n, key, "expected an array of paths");
  std::vector<std::filesystem::path> out;
  for (const auto& item : *arr) {
    auto p = field.string(file, item, key);
    if (p.empty()) field.fail(file, item, key, "a path may not be empty");
    out.emplace_back(std::move(p));
  }
  return out;
}

}  // namespace

void apply_signatures_table(const toml::table& section, const std::string& file,
                            signatures_settings& s) {
  constexpr std::int64_t max_u32 = 0xffffffffLL;
  constexpr std::int64_t tib = std::int64_t{1} << 40;
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "store") {
      const auto v = field.string(file, n, key);
      if (v.empty()) field.fail(file, n, key, "may not be empty");
      s.store_dir = v;
    } else if (key == "cache_dir") {
      s.cache_dir = field.string(file, n, key);
    } else if (key == "require_signed") {
      s.require_signed = field.boolean(file, n, key);
    } else if (key == "trusted_keys") {
      s.trusted_key_paths = paths(file, n, key);
      s.trusted_keys.clear();
      const auto* arr = n.as_array();
      for (std::size_t i = 0; i < s.trusted_key_paths.size(); ++i) {
        try {
          for (auto& pk : read_public_keys(s.trusted_key_paths[i])) s.trusted_keys.push_back(pk);
        } catch (const signing_error& e) {
          field.fail(file, *arr->get(i), key, e.what());
        }
      }
    } else if (key == "clamav") {
      s.clamav_enabled = field.boolean(file, n, key);
    } else if (key == "clamav_databases") {
      s.clamav.database_dirs = paths(file, n, key);
      if (s.clamav.database_dirs.empty()) field.fail(file, n, key, "needs at least one directory");
    } else if (key == "clamav_max_scan_size") {
      s.clamav.max_scan_size = static_cast<std::uint64_t>(field.integer(file, n, key, 1, tib));
    } else if (key == "clamav_max_file_size") {
      s.clamav.max_file_size = static_cast<std::uint64_t>(field.integer(file, n, key, 1, tib));
    } else if (key == "clamav_max_recursion") {
      s.clamav.max_recursion = static_cast<std::uint32_t>(field.integer(file, n, key, 1, 64));
    } else if (key == "clamav_max_files") {
      s.clamav.max_files = static_cast<std::uint32_t>(field.integer(file, n, key, 1, max_u32));
    } else if (key == "clamav_temp_dir") {
      s.clamav.temp_dir = field.string(file, n, key);
    } else if (key == "scan_threads") {
      s.clamav.pool_threads = static_cast<std::size_t>(field.integer(file, n, key, 1, 256));
    } else if (key == "scan_queue") {
      s.clamav.queue_capacity = static_cast<std::size_t>(field.integer(file, n, key, 1, 1000000));
    } else if (key == "scan_timeout") {
      s.clamav.timeout = std::chrono::seconds(field.integer(file, n, key, 1, 3600));
    } else if (key == "fail_open") {
      s.clamav.fail_open = field.boolean(file, n, key);
    } else {
      field.fail(file, n, key, "unknown key");
    }
  }
}

void finish_signatures_settings(signatures_settings& s, const std::string& file) {
  if (s.require_signed && s.trusted_keys.empty()) {
    throw settings_error(file +
                         ": signatures.require_signed: true needs at least one key in "
                         "signatures.trusted_keys");
  }
}

signatures_settings load_signatures_settings(const std::filesystem::path& config_file) {
  signatures_settings s;
  const std::string name = config_file.string();
  toml::table doc;
  if (const auto* t = field.load(name, doc)) apply_signatures_table(*t, name, s);
  finish_signatures_settings(s, name);
  return s;
}

}  // namespace imcap::signatures
