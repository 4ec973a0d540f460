#pragma once
// A check both URI parsers (the ICAP request URI in icap/, encapsulated HTTP targets in
// modules/) run before handing a string to Boost.URL.

#include <cstddef>
#include <string_view>

namespace imcap::uri_guard {

// True when '[' or ']' appears outside the authority. The grammar allows them only around an
// IP literal there, and Boost.URL 1.81 asserts (debug builds abort) on a scheme followed by
// one ("icap:]"), so such strings are refused before they reach it.
inline bool brackets_outside_authority(std::string_view uri) noexcept {
  std::size_t from = 0;
  if (auto sep = uri.find("://"); sep != std::string_view::npos)
    from = uri.find_first_of("/?#", sep + 3);
  if (from == std::string_view::npos) return false;
  auto rest = uri.substr(from);
  return rest.find('[') != std::string_view::npos || rest.find(']') != std::string_view::npos;
}

}  // namespace imcap::uri_guard
