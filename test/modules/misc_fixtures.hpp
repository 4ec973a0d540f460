#pragma once
// Loads fixture messages for the Mattermost, Rocket.Chat, Matrix and legacy unit tests (the
// fixtures themselves are checked by fixtures_test.cpp): raw HTTP/1.1 files through the same
// parser imcapctl decode uses.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "modules/http_message.hpp"

namespace misc_test {

namespace fs = std::filesystem;
using namespace imcap::modules;

inline const fs::path fixtures_root = fs::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures";

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline http_request load_request(const fs::path& p) {
  http_request r;
  if (auto err = parse_http_request(slurp(p), limits{}, r))
    throw std::runtime_error(p.string() + ": " + err.message());
  return r;
}

inline http_response load_response(const fs::path& p) {
  http_response r;
  if (auto err = parse_http_response(slurp(p), limits{}, r))
    throw std::runtime_error(p.string() + ": " + err.message());
  return r;
}

}  // namespace misc_test
