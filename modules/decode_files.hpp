#pragma once
// What `imcapctl decode` does, as a function the fixture tests call too: reads raw HTTP/1.1
// request files (each optionally with its response file), decodes them in order with one
// shared session store (multi-request flows: Engine.IO placeholders across POSTs, BOSH bind
// then message, upload then message) and returns the events.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "modules/errors.hpp"
#include "modules/event.hpp"

namespace imcap::modules {

struct decode_step {
  std::string request_file;
  std::optional<std::string> response_file;
};

struct decode_files_options {
  std::string proxy_user;  // as Squid would pass it (already decoded), may be empty
  std::string client_ip;
  modules::limits limits;
};

struct decode_files_result {
  std::vector<chat_event> events;  // every event of every step decoded before an error
  decode_error error;              // the first error; decoding stops there
  std::string error_file;          // the file the error belongs to
  // Per step: the decoder used, or "" when none matched (not chat traffic).
  std::vector<std::string> decoders_used;
};

decode_files_result decode_files(std::span<const decode_step> steps,
                                 const decode_files_options& options);

}  // namespace imcap::modules
