#include "archive/settings.hpp"

#include <cstdint>

namespace imcap::archive {

namespace {

[[noreturn]] void fail(const std::string& file, const toml::node& n, std::string_view key,
                       std::string_view why) {
  const auto& where = n.source().begin;
  throw settings_error(file + ":" + std::to_string(where.line) + ":" +
                       std::to_string(where.column) + ": archive." + std::string(key) + ": " +
                       std::string(why));
}

std::int64_t integer(const std::string& file, const toml::node& n, std::string_view key,
                     std::int64_t min, std::int64_t max) {
  auto v = n.value_exact<std::int64_t>();
  if (!v || *v < min || *v > max) {
    fail(file, n, key,
         "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return *v;
}

std::string string(const std::string& file, const toml::node& n, std::string_view key) {
  auto v = n.value_exact<std::string>();
  if (!v) fail(file, n, key, "expected a string");
  return *v;
}

}  // namespace

void apply_archive_table(const toml::table& section, const std::string& file, settings& s) {
  constexpr std::int64_t mib = std::int64_t{1} << 20;
  constexpr std::int64_t pib = std::int64_t{1} << 50;
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "path") {
      const auto v = string(file, n, key);
      if (v.empty()) fail(file, n, key, "may not be empty");
      s.path = v;
    } else if (key == "durability") {
      const auto v = string(file, n, key);
      if (v == "strict")
        s.mode = durability::strict;
      else if (v == "relaxed")
        s.mode = durability::relaxed;
      else
        fail(file, n, key, "expected \"strict\" or \"relaxed\"");
    } else if (key == "map_size_initial") {
      s.map_size_initial = static_cast<std::uint64_t>(integer(file, n, key, mib, pib));
    } else if (key == "map_size_max") {
      s.map_size_max = static_cast<std::uint64_t>(integer(file, n, key, mib, pib));
    } else if (key == "max_batch") {
      s.max_batch = static_cast<std::size_t>(integer(file, n, key, 1, 1'000'000));
    } else if (key == "max_batch_delay_us") {
      s.max_batch_delay = std::chrono::microseconds(integer(file, n, key, 0, 1'000'000));
    } else if (key == "queue_limit") {
      s.queue_limit = static_cast<std::size_t>(integer(file, n, key, 1, 100'000'000));
    } else if (key == "attachment_max_bytes") {
      s.attachment_max_bytes =
          static_cast<std::size_t>(integer(file, n, key, 0, std::int64_t{1} << 40));
    } else if (key == "zstd_level") {
      s.zstd_level = static_cast<int>(integer(file, n, key, 1, 19));
    } else if (key == "retention_days") {
      s.retention = std::chrono::hours(24 * integer(file, n, key, 1, 365'000));
    } else {
      fail(file, n, key, "unknown key");
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
  try {
    doc = toml::parse_file(name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (where.line == 0) throw settings_error(name + ": " + std::string(e.description()));
    throw settings_error(name + ":" + std::to_string(where.line) + ":" +
                         std::to_string(where.column) + ": " + std::string(e.description()));
  }
  if (const auto* node = doc.get("archive")) {
    const auto* t = node->as_table();
    if (t == nullptr) {
      const auto& where = node->source().begin;
      throw settings_error(name + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) +
                           ": archive: expected a table ([archive])");
    }
    apply_archive_table(*t, name, s);
  }
  finish_archive_settings(s, name);
  return s;
}

}  // namespace imcap::archive
