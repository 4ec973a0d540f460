#include "modules/decode_files.hpp"

#include <fstream>
#include <sstream>

#include "modules/http_message.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

namespace imcap::modules {

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return true;
}

}  // namespace

decode_files_result decode_files(std::span<const decode_step> steps,
                                 const decode_files_options& options) {
  decode_files_result r;
  memory_session_store sessions;
  for (const auto& step : steps) {
    std::string raw;
    if (!read_file(step.request_file, raw)) {
      r.error = decode_error(errc::malformed_http, "cannot read the file");
      r.error_file = step.request_file;
      return r;
    }
    http_request req;
    if (auto e = parse_http_request(raw, options.limits, req)) {
      r.error = std::move(e);
      r.error_file = step.request_file;
      return r;
    }
    http_response resp;
    bool have_response = false;
    if (step.response_file) {
      if (!read_file(*step.response_file, raw)) {
        r.error = decode_error(errc::malformed_http, "cannot read the file");
        r.error_file = *step.response_file;
        return r;
      }
      if (auto e = parse_http_response(raw, options.limits, resp)) {
        r.error = std::move(e);
        r.error_file = *step.response_file;
        return r;
      }
      have_response = true;
    }
    exchange x{req,
               have_response ? &resp : nullptr,
               options.proxy_user,
               options.client_ip,
               &sessions,
               options.limits};
    auto out = decode_exchange(x);
    r.decoders_used.emplace_back(out.used != nullptr ? out.used->name : std::string_view());
    for (auto& e : out.events) r.events.push_back(std::move(e));
    if (out.error) {
      r.error = std::move(out.error);
      r.error_file = out.error_in_response ? *step.response_file : step.request_file;
      return r;
    }
  }
  return r;
}

}  // namespace imcap::modules
