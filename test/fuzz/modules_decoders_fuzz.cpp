// One libFuzzer target for every decoder in the table (modules/registry.cpp).
//
// Input layout: byte 0 selects the decoder (bits 1..7, modulo the table size) and the
// direction (bit 0: 0 request, 1 response). The rest is a raw HTTP/1.1 request; in response
// mode it is a request, the separator below, then a raw response. Both are parsed with
// modules/http_message (content codings undone), so the fixture files are seeds
// (test/fuzz/make_modules_corpus.py writes them).
//
// The decoder's functions are called directly, bypassing classify, with a fresh session store
// per input. Every event with a text location is then rewritten once through the decoder's
// rewrite. Nothing may crash, hang or leak; errors are fine.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "modules/http_message.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

using namespace imcap::modules;

namespace {

constexpr std::string_view response_separator = "\r\n#IMCAP-RESPONSE#\r\n";

limits fuzz_limits() {
  limits lim;
  lim.max_decoded_bytes = 1 << 20;  // small bodies keep executions fast
  lim.max_parts = 256;
  return lim;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto table = decoders();
  if (table.empty()) return 0;
  const decoder& d = table[static_cast<std::size_t>(data[0] >> 1) % table.size()];
  bool response_mode = (data[0] & 1) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  const limits lim = fuzz_limits();
  http_request req;
  http_response resp;
  std::string_view req_text = rest;
  std::string_view resp_text;
  if (response_mode) {
    auto sep = rest.find(response_separator);
    if (sep == std::string_view::npos) return 0;
    req_text = rest.substr(0, sep);
    resp_text = rest.substr(sep + response_separator.size());
  }
  if (parse_http_request(req_text, lim, req)) return 0;
  if (response_mode && parse_http_response(resp_text, lim, resp)) return 0;

  memory_session_store sessions(64);
  exchange x{req, response_mode ? &resp : nullptr, "fuzz-user", "192.0.2.1", &sessions, lim};
  std::vector<chat_event> events;
  if (!response_mode && d.decode_request != nullptr) (void)d.decode_request(x, events);
  if (response_mode && d.decode_response != nullptr) (void)d.decode_response(x, events);

  if (d.rewrite != nullptr) {
    for (const auto& e : events) {
      if (e.text_at.empty()) continue;
      std::string body = e.direction == direction::inbound && response_mode ? resp.body : req.body;
      (void)d.rewrite(body, e.text_at, "[imcap]");
    }
  }
  return 0;
}
