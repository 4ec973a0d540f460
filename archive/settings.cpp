#include "archive/settings.hpp"

#include <cstdint>

#include "common/toml_fields.hpp"

namespace imcap::archive {

namespace {

const toml_fields::section<settings_error> field{"archive"};

}  // namespace

void apply_archive_table(const toml::table& section, const std::string& file, settings& s) {
  constexpr std::int64_t mib = std::int64_t{1} << 20;
  constexpr std::int64_t pib = std::int64_t{1} << 50;
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "path") {
      const auto v = field.string(file, n, key);
      if (v.empty()) field.fail(file, n, key, "may not be empty");
      s.path = v;
    } else if (key == "durability") {
      const auto v = field.string(file, n, key);
      if (v == "strict")
        s.mode = durability::strict;
      else if (v == "relaxed")
        s.mode = durability::relaxed;
      else
        field.fail(file, n, key, "expected \"strict\" or \"relaxed\"");
    } else if (key == "map_size_initial") {
      s.map_size_initial = static_cast<std::uint64_t>(field.integer(file, n, key, mib, pib));
    } else if (key == "map_size_max") {
      s.map_size_max = static_cast<std::uint64_t>(field.integer(file, n, key, mib, pib));
    } else if (key == "max_batch") {
      s.max_batch = static_cast<std::size_t>(field.integer(file, n, key, 1, 1'000'000));
    } else if (key == "max_batch_delay_us") {
      s.max_batch_delay = std::chrono::microseconds(field.integer(file, n, key, 0, 1'000'000));
    } else if (key == "queue_limit") {
      s.queue_limit = static_cast<std::size_t>(field.integer(file, n, key, 1, 100'000'000));
    } else if (key == "attachment_max_bytes") {
      s.attachment_max_bytes =
          static_cast<std::size_t>(field.integer(file, n, key, 0, std::int64_t{1} << 40));
    } else if (key == "zstd_level") {
      s.zstd_level = static_cast<int>(field.integer(file, n, key, 1, 19));
    } else if (key == "retention_days") {
      s.retention = std::chrono::hours(24 * field.integer(file, n, key, 1, 365'000));
    } else {
      field.fail(file, n, key, "unknown key");
    }
  }
}

void finish_archive_settings(const settings& s, const std::string& file) {
  if (s.map_size_max < s.map_size_initial) {
    throw settings_error(file +
                         ": archive.map_size_max: must be at least archive.map_size_initial (" +
                         std::to_string(s.map_size_initial) + ")");
  }
}

settings load_archive_settings(const std::filesystem::path& config_file) {
  settings s;
  const std::string name = config_file.string();
  toml::table doc;
  if (const auto* t = field.load(name, doc)) apply_archive_table(*t, name, s);
  finish_archive_settings(s, name);
  return s;
}

}  // namespace imcap::archive
