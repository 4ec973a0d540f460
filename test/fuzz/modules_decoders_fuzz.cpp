// One libFuzzer target for every decoder in the table (modules/registry.cpp): its decode
// functions and its reply hooks (modules/decoder.hpp, modules/README.md "Replies").
//
// Input layout: byte 0 selects the decoder (bits 1..7, modulo the table size) and the
// direction (bit 0: 0 request, 1 response). The rest is a raw HTTP/1.1 request; in response
// mode it is a request, the response separator below, then a raw response. Both are parsed with
// modules/http_message (content codings undone), so the fixture files are seeds
// (test/fuzz/make_modules_corpus.py writes them). Optionally, the input ends with the notice
// separator and the notice: one byte choosing notice::kind, then the notice text (UTF-8 or not:
// policy text is configuration, but the hooks must survive anything).
//
// The decoder's functions are called directly, bypassing classify, with a fresh session store
// per input, in the pipeline's order: decode_request (both modes: a RESPMOD answer follows its
// REQMOD request), then decode_response in response mode. Then every reply hook the decoder has:
// - session_of(head) and session_of_exchange(x);
// - render_block(x, e, notice) for every outbound event: a status from 200 to 599;
// - strip(body, e.text_at) and rewrite(body, e.text_at, notice text) for every event with a text
//   location, on the body that event came from;
// - inject_notice(body, x, notice) on the response body (response mode), with notice.reply_to
//   set from the first outbound event (replies::call_id_of).
// Invariants (what a user relies on): a hook that fails leaves the body untouched; a hook that
// succeeds leaves a body that still decodes with the same decoder without error, whenever the
// original decoded without error in the same context (a fresh session store, same limits).
// Legitimate exception, not a bug: an edit that adds bytes, parts or nesting (rewrite with a
// longer text, inject_notice) can push a body that was just under a limit over it; the limit
// errors (too_large, too_deep, too_many_parts, ratio_exceeded) are therefore accepted after
// rewrite and inject_notice, never after strip (it only removes).
// Contract, not a bug: notice::text is "plain UTF-8 chosen by policy" (decoder.hpp), and so
// is rewrite's replacement (policy texts come from TOML, which toml++ only accepts as UTF-8).
// JSON cannot carry other bytes: Boost.JSON serialises them as they are and its parser then
// refuses the body. content::rewrite_path refuses such a replacement (rewrite_test.cpp), but the
// transport-specific JSON rewrites (matrix, zulip, slack, ...) and the JSON renderers do not
// check, so a fuzzed notice text that is not UTF-8 has its bytes >= 0x80 dropped here before
// any hook sees it (ASCII controls, quotes and markup still reach every hook).
// Nothing may crash, hang or leak.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "modules/decoder.hpp"
#include "modules/http_message.hpp"
#include "modules/registry.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"

using namespace imcap::modules;

namespace {

constexpr std::string_view response_separator = "\r\n#IMCAP-RESPONSE#\r\n";
constexpr std::string_view notice_separator = "\r\n#IMCAP-NOTICE#\r\n";

limits fuzz_limits() {
  limits lim;
  lim.max_decoded_bytes = 1 << 20;  // small bodies keep executions fast
  lim.max_parts = 256;
  return lim;
}

bool is_limit(errc c) noexcept {
  return c == errc::too_large || c == errc::too_deep || c == errc::too_many_parts ||
         c == errc::ratio_exceeded;
}

// The UTF-8 check of the parser the JSON decoders use.
bool is_utf8(const std::string& s) {
  boost::system::error_code ec;
  (void)boost::json::parse(boost::json::serialize(boost::json::value(boost::json::string(s))), ec);
  return !ec;
}

[[noreturn]] void violated(const decoder& d, std::string_view hook, std::string_view what,
                           const std::string& body) {
  std::fprintf(stderr, "decoder %.*s, %.*s: %.*s\nbody after the hook (%zu bytes):\n%.*s\n",
               static_cast<int>(d.name.size()), d.name.data(), static_cast<int>(hook.size()),
               hook.data(), static_cast<int>(what.size()), what.data(), body.size(),
               static_cast<int>(body.size() > 4096 ? 4096 : body.size()), body.data());
  std::abort();
}

// Decodes `body` as the request (outbound) or the response (inbound) body of the input, with a
// fresh session store: the same context before and after an edit.
decode_error decode_again(const decoder& d, const http_request& req, const http_response* resp,
                          bool response_body, const std::string& body, const limits& lim) {
  memory_session_store fresh(64);
  std::vector<chat_event> got;
  if (response_body) {
    if (resp == nullptr || d.decode_response == nullptr) return {};
    http_response r = *resp;
    r.body = body;
    const exchange y{req, &r, "fuzz-user", "192.0.2.1", &fresh, lim};
    return d.decode_response(y, got);
  }
  if (d.decode_request == nullptr) return {};
  const http_request q{req.head, body};
  const exchange y{q, resp, "fuzz-user", "192.0.2.1", &fresh, lim};
  return d.decode_request(y, got);
}

// Checks an edit hook's result against the original body (see the invariants above).
void check_edit(const decoder& d, std::string_view hook, const decode_error& err,
                const std::string& original, const std::string& edited, bool original_decodes,
                const decode_error& after, bool limits_allowed) {
  if (err) {
    if (edited != original) violated(d, hook, "failed (" + err.message() + ") but changed", edited);
    return;
  }
  if (!original_decodes || !after) return;
  if (limits_allowed && is_limit(after.code)) return;
  violated(d, hook, "succeeded but the body no longer decodes: " + after.message(), edited);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto table = decoders();
  if (table.empty()) return 0;
  const decoder& d = table[static_cast<std::size_t>(data[0] >> 1) % table.size()];
  const bool response_mode = (data[0] & 1) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  notice n;
  n.text = std::string(replies::default_text);
  if (auto at = rest.rfind(notice_separator); at != std::string_view::npos) {
    std::string_view tail = rest.substr(at + notice_separator.size());
    rest = rest.substr(0, at);
    if (!tail.empty()) {
      n.what = static_cast<notice::kind>(static_cast<unsigned char>(tail[0]) % 4);
      n.text = std::string(tail.substr(1));
    }
  }
  if (!is_utf8(n.text)) std::erase_if(n.text, [](char c) { return (c & 0x80) != 0; });
  n.id = "imcap-fuzz-1";
  n.timestamp = "2026-01-05T10:00:00.123Z";

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
  const http_response* resp_ptr = response_mode ? &resp : nullptr;

  memory_session_store sessions(64);
  const exchange x{req, resp_ptr, "fuzz-user", "192.0.2.1", &sessions, lim};
  std::vector<chat_event> req_events, resp_events;
  if (d.decode_request != nullptr) (void)d.decode_request(x, req_events);
  if (response_mode && d.decode_response != nullptr) (void)d.decode_response(x, resp_events);

  if (d.session_of != nullptr) (void)d.session_of(req.head);
  if (d.session_of_exchange != nullptr) (void)d.session_of_exchange(x);

  // The notice belongs to the first conversation seen and answers the first outbound call.
  for (const auto* evs : {&req_events, &resp_events}) {
    for (const auto& e : *evs) {
      if (n.conversation_id.empty()) n.conversation_id = e.conversation_id;
      if (n.reply_to.empty() && e.direction == direction::outbound)
        n.reply_to = replies::call_id_of(e);
    }
  }

  if (d.render_block != nullptr) {
    const exchange request_only{req, nullptr, "fuzz-user", "192.0.2.1", &sessions, lim};
    for (const auto& e : req_events) {
      if (e.direction != direction::outbound) continue;
      const http_reply r = d.render_block(request_only, e, n);
      if (r.status < 200 || r.status > 599)
        violated(d, "render_block", "status out of range " + std::to_string(r.status), r.body);
    }
  }

  // strip and rewrite on the body each event came from.
  auto edit_events = [&](const std::vector<chat_event>& events, bool response_body) {
    const std::string& original = response_body ? resp.body : req.body;
    bool decodes = false;
    bool decodes_known = false;
    for (const auto& e : events) {
      if (e.text_at.empty()) continue;
      if (!decodes_known) {
        decodes = !decode_again(d, req, resp_ptr, response_body, original, lim);
        decodes_known = true;
      }
      if (d.rewrite != nullptr) {
        std::string body = original;
        const decode_error err = d.rewrite(body, e.text_at, n.text);
        const decode_error after =
            err ? decode_error{} : decode_again(d, req, resp_ptr, response_body, body, lim);
        check_edit(d, "rewrite", err, original, body, decodes, after, true);
      }
      // strip belongs to batched request bodies (outbound).
      if (d.strip != nullptr && !response_body) {
        std::string body = original;
        const decode_error err = d.strip(body, e.text_at);
        const decode_error after =
            err ? decode_error{} : decode_again(d, req, resp_ptr, response_body, body, lim);
        check_edit(d, "strip", err, original, body, decodes, after, false);
      }
    }
  };
  edit_events(req_events, false);
  if (response_mode) edit_events(resp_events, true);

  if (response_mode && d.inject_notice != nullptr) {
    const bool decodes = !decode_again(d, req, resp_ptr, true, resp.body, lim);
    std::string body = resp.body;
    const decode_error err = d.inject_notice(body, x, n);
    const decode_error after =
        err ? decode_error{} : decode_again(d, req, resp_ptr, true, body, lim);
    check_edit(d, "inject_notice", err, resp.body, body, decodes, after, true);
  }
  return 0;
}
