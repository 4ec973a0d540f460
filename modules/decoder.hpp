#pragma once
// A decoder descriptor: everything imcap knows about one chat transport, declared as data.
// Descriptors are listed in one explicit table (modules/registry.cpp) and validated at start-up;
// nothing registers itself.
//
// Contract for every function pointer:
// - classify sees only the request head (what an ICAP preview gives) and must not allocate
//   more than a few strings; it is called for every proxied request.
// - decode_request / decode_response append events to `out` and return an error value for a
//   malformed or over-limit body (events appended before the error are kept: what was decoded
//   is not lost). They never throw and keep no pointer into the exchange after returning.
// - rewrite replaces the value at `at` (a location this decoder produced) with `replacement`
//   inside `body` (content codings undone) and re-encodes every layer, so the framing stays
//   valid; it returns an error and leaves `body` untouched when it cannot.

#include <string>
#include <string_view>
#include <vector>

#include "modules/errors.hpp"
#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules {

struct decoder {
  std::string_view name;    // unique, lowercase, e.g. "slack-web"; also chat_event::transport
  std::string_view app;     // app id, e.g. "slack"
  std::string_view family;  // source folder, e.g. "slack"
  bool (*classify)(const request_head& head) noexcept = nullptr;
  // Outbound content in the request body (REQMOD). Null when the transport sends nothing.
  decode_error (*decode_request)(const exchange& x, std::vector<chat_event>& out) = nullptr;
  // Inbound content (and learned identities) in the response body (RESPMOD). Null if none.
  decode_error (*decode_response)(const exchange& x, std::vector<chat_event>& out) = nullptr;
  // Null when the transport's bodies cannot be rewritten (then policy can only block).
  decode_error (*rewrite)(std::string& body, const location& at,
                          std::string_view replacement) = nullptr;
};

}  // namespace imcap::modules
