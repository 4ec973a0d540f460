#include "icap/message.hpp"

#include <charconv>

#include "icap/text.hpp"

namespace imcap::icap {

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::options:
      return "OPTIONS";
    case method::reqmod:
      return "REQMOD";
    case method::respmod:
      return "RESPMOD";
  }
  return "?";
}

void header_list::add(std::string name, std::string value) {
  if (fields_.empty()) fields_.reserve(12);  // typical ICAP and HTTP heads, one allocation
  fields_.push_back({std::move(name), std::move(value)});
}

void header_list::append_to_last(std::string_view more) {
  if (fields_.empty()) return;
  fields_.back().value.push_back(' ');
  fields_.back().value.append(more);
}

std::optional<std::string_view> header_list::get(std::string_view name) const noexcept {
  for (const auto& f : fields_)
    if (iequals(f.name, name)) return std::string_view(f.value);
  return std::nullopt;
}

bool header_list::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const auto& f : fields_) {
    if (!iequals(f.name, name)) continue;
    bool found = false;
    for_each_list_item(f.value, [&](std::string_view item) {
      if (iequals(item, token)) found = true;
    });
    if (found) return true;
  }
  return false;
}

namespace {
// Splits "A SP B SP C" start lines; returns the n-th space-separated word.
std::string_view word(std::string_view line, int n) noexcept {
  for (int i = 0; i < n; ++i) {
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return {};
    line.remove_prefix(sp + 1);
  }
  return line.substr(0, line.find(' '));
}
}  // namespace

std::string_view http_head::request_method() const noexcept {
  return word(start_line, 0);
}
std::string_view http_head::request_target() const noexcept {
  return word(start_line, 1);
}

int http_head::response_status() const noexcept {
  auto code = word(start_line, 1);
  int value = 0;
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
  if (ec != std::errc() || ptr != code.data() + code.size() || code.size() != 3) return 0;
  return value;
}

}  // namespace imcap::icap
