// libFuzzer target for the ICAP request parser. The first input byte chooses where the rest
// is split (network reads arrive in arbitrary pieces); the parser must never crash, never
// loop, never report more consumed bytes than it was given, and must give the same verdict
// whether the input came in one piece or two.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "icap/identity.hpp"
#include "icap/parser.hpp"

using namespace imcap::icap;

namespace {

struct summary {
  parse_status last = parse_status::incomplete;
  parse_error error = parse_error::none;
  std::string body;
  int events = 0;
};

summary run(std::string_view a, std::string_view b) {
  parser_limits limits;
  limits.max_icap_header_bytes = 2048;
  limits.max_http_header_bytes = 4096;
  limits.max_chunk_line_bytes = 256;
  request_parser p(limits);
  summary s;
  for (std::string_view piece : {a, b}) {
    std::size_t off = 0;
    for (int guard = 0; guard < 1 << 20; ++guard) {
      auto r = p.parse(piece.substr(off));
      if (r.consumed > piece.size() - off) std::abort();
      off += r.consumed;
      s.last = r.status;
      ++s.events;
      if (r.status == parse_status::body) {
        if (r.data.data() < piece.data() ||
            r.data.data() + r.data.size() > piece.data() + piece.size())
          std::abort();  // body views must point into the input given
        s.body.append(r.data);
        continue;
      }
      if (r.status == parse_status::head_done) {
        (void)extract_identity(p.request().headers, identity_settings{});
        continue;
      }
      if (r.status == parse_status::preview_done) {
        p.continue_after_preview();
        continue;
      }
      if (r.status == parse_status::done) {
        p.reset();  // a pipelined next request may follow
        continue;
      }
      if (r.status == parse_status::error) {
        s.error = p.error();
        return s;
      }
      if (off != piece.size()) std::abort();  // incomplete must mean "all consumed"
      break;
    }
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t split = all.empty() ? 0 : data[0] % (all.size() + 1);
  auto whole = run(all, {});
  auto parts = run(all.substr(0, split), all.substr(split));
  if (whole.error != parts.error || whole.body != parts.body) std::abort();
  return 0;
}
