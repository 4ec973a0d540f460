#include "modules/http_message.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "modules/content/codings.hpp"

namespace imcap::modules {

namespace http = boost::beast::http;

namespace {

// Feeds `raw` to a Beast parser in one go (it is all there), then signals the end of input.
// Returns an error message, empty on success.
template <bool IsRequest>
std::string run_parser(http::parser<IsRequest, http::string_body>& p, std::string_view raw,
                       const limits& lim) {
  p.header_limit(static_cast<std::uint32_t>(max_header_bytes));
  p.body_limit(static_cast<std::uint64_t>(lim.max_decoded_bytes));
  p.eager(true);
  if (raw.empty()) return "empty message";
  boost::beast::error_code ec;
  std::size_t used = 0;
  // Each put consumes bytes or reports need_more/an error; at most a handful of iterations.
  while (used < raw.size() && !p.is_done()) {
    auto n = p.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0) break;
      continue;
    }
    if (ec) break;
  }
  if (!ec && !p.is_done()) p.put_eof(ec);
  if (ec) {
    if (ec == http::error::header_limit)
      return "header section larger than " + std::to_string(max_header_bytes) + " bytes";
    if (ec == http::error::body_limit)
      return "body larger than " + std::to_string(lim.max_decoded_bytes) + " bytes";
    if (ec == http::error::partial_message) {
      if (!p.is_header_done()) return "message ends inside the header section";
      if (auto len = p.content_length_remaining())
        return "body ends " + std::to_string(*len) + " bytes before its Content-Length";
      return "chunked body ends before its last chunk";
    }
    return ec.message() + " at byte " + std::to_string(used);
  }
  if (!p.is_done()) return "message ends early";
  if (used < raw.size())
    return std::to_string(raw.size() - used) +
           " bytes after the end of the message (missing or wrong Content-Length?)";
  return {};
}

header_fields fields_of(const http::fields& f) {
  header_fields h;
  for (const auto& field : f) h.add(std::string(field.name_string()), std::string(field.value()));
  return h;
}

decode_error undo_coding(const header_fields& h, const std::string& body, const limits& lim,
                         std::string& out) {
  auto ce = h.get("Content-Encoding");
  if (!ce) {
    out = body;
    return {};
  }
  return content::decode_content(*ce, body, lim, out);
}

}  // namespace

decode_error parse_http_request(std::string_view raw, const limits& lim, http_request& out) {
  http::request_parser<http::string_body> p;
  if (auto why = run_parser(p, raw, lim); !why.empty())
    return {errc::malformed_http, "request: " + why};
  auto& msg = p.get();
  auto headers = fields_of(msg.base());
  out.head = request_head::make(std::string(msg.method_string()), std::string(msg.target()),
                                std::move(headers));
  return undo_coding(out.head.headers, msg.body(), lim, out.body);
}

decode_error parse_http_response(std::string_view raw, const limits& lim, http_response& out) {
  http::response_parser<http::string_body> p;
  if (auto why = run_parser(p, raw, lim); !why.empty())
    return {errc::malformed_http, "response: " + why};
  auto& msg = p.get();
  out.status = static_cast<int>(msg.result_int());
  out.headers = fields_of(msg.base());
  return undo_coding(out.headers, msg.body(), lim, out.body);
}

}  // namespace imcap::modules
