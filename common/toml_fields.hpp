#pragma once
// Reading one section of imcapd.toml with errors a person can act on:
// "file:line:column: section.key: reason", thrown as the component's own error type.
// Shared by every component that owns a section ([archive], [metrics], [policy],
// [signatures], [webui]), so they word their errors the same way.

#include <cstdint>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace imcap::toml_fields {

// `Error` is constructible from a std::string (the components' settings_error types).
template <class Error>
class section {
 public:
  explicit section(std::string_view name) : name_(name) {}

  std::string_view name() const noexcept { return name_; }

  [[noreturn]] void fail(const std::string& file, const toml::node& n, std::string_view key,
                         std::string_view why) const {
    const auto& where = n.source().begin;
    throw Error(file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                ": " + std::string(name_) + "." + std::string(key) + ": " + std::string(why));
  }

  std::int64_t integer(const std::string& file, const toml::node& n, std::string_view key,
                       std::int64_t min, std::int64_t max) const {
    auto v = n.value_exact<std::int64_t>();
    if (!v || *v < min || *v > max)
      fail(file, n, key,
           "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return *v;
  }

  bool boolean(const std::string& file, const toml::node& n, std::string_view key) const {
    auto v = n.value_exact<bool>();
    if (!v) fail(file, n, key, "expected true or false");
    return *v;
  }

  std::string string(const std::string& file, const toml::node& n, std::string_view key) const {
    auto v = n.value_exact<std::string>();
    if (!v) fail(file, n, key, "expected a string");
    return *v;
  }

  // Parses `file` into `doc` and returns its table for this section, nullptr when the file has
  // none. A TOML syntax error is "file:line:column: reason"; a section that is not a table is
  // "file:line:column: name: expected a table ([name])".
  const toml::table* load(const std::string& file, toml::table& doc) const {
    try {
      doc = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      if (where.line == 0) throw Error(file + ": " + std::string(e.description()));
      throw Error(file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                  ": " + std::string(e.description()));
    }
    const auto* node = doc.get(name_);
    if (node == nullptr) return nullptr;
    const auto* t = node->as_table();
    if (t == nullptr) {
      const auto& where = node->source().begin;
      throw Error(file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                  ": " + std::string(name_) + ": expected a table ([" + std::string(name_) + "])");
    }
    return t;
  }

 private:
  std::string_view name_;
};

}  // namespace imcap::toml_fields
