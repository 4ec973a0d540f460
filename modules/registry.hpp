#pragma once
// The decoder table and the entry points the pipeline and `imcapctl decode` call.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules {

// Every decoder, in classification order (more specific first). The table lives in
// registry.cpp; adding a transport means adding its descriptor there.
std::span<const decoder> decoders() noexcept;

// Checks the table: names unique and non-empty, app and family set, classify present, at least
// one of decode_request / decode_response; and the reply hooks: a decoder of outbound messages
// has render_block, strip comes with decode_request and inject_notice, inject_notice with
// decode_response and a way to find the session (session_of or session_of_exchange). Returns one
// line per problem (empty when sound). imcapd refuses to start, and a unit test fails, when it is
// not empty.
std::vector<std::string> validate_table(std::span<const decoder> table);

// The first decoder whose classify accepts the head, or nullptr (not chat: answer 204 from the
// preview). Apps that cannot be decoded (E2E, greynet) are found by classify_app instead.
const decoder* classify(const request_head& head) noexcept;

// A decoder by name, or nullptr.
const decoder* find_decoder(std::string_view name) noexcept;

// Decodes one exchange with the decoder `classify` picks: request body (outbound), then the
// response body when present (inbound). Returns the events and the first error, if any; events
// decoded before an error are kept. When the request body fails, the response is not decoded.
struct decode_outcome {
  const decoder* used = nullptr;  // nullptr when no decoder matched
  std::vector<chat_event> events;
  decode_error error;
  bool error_in_response = false;  // the error came from the response body, not the request
};
decode_outcome decode_exchange(const exchange& x);

}  // namespace imcap::modules
