#pragma once
// application/x-www-form-urlencoded (WHATWG URL §5): '&' and '=' split, '+' is a space,
// percent-decoding as UTF-8. Repeated names are kept in order.

#include <string>
#include <string_view>
#include <vector>

#include "modules/errors.hpp"

namespace imcap::modules::content {

struct form_field {
  std::string name;   // decoded
  std::string value;  // decoded
};

decode_error parse_form(std::string_view body, const limits& lim, std::vector<form_field>& out);

// First value of `name`, or nullptr.
const std::string* form_value(const std::vector<form_field>& fields, std::string_view name);

// Re-encodes fields (names and values percent-encoded, spaces as '+').
std::string serialize_form(const std::vector<form_field>& fields);

}  // namespace imcap::modules::content
