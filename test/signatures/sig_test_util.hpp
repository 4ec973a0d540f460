#pragma once
// Helpers for the signature tests: a temporary directory removed at scope exit, files in it,
// and the shipped packs' folder.

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace sigtest {

namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-sigcore-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  fs::path write(const std::string& name, std::string_view bytes) const {
    const fs::path f = path / name;
    std::ofstream o(f, std::ios::binary | std::ios::trunc);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(o.good());
    return f;
  }
};

inline fs::path packs_dir() {
  return fs::path(IMCAP_SOURCE_DIR) / "signatures" / "packs";
}

}  // namespace sigtest
