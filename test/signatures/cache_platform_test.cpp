// The compiled-database cache never hands this machine a database built for another CPU: a
// cache file (well formed, checksum right) whose databases target CPU features this host or
// this libhs cannot run is treated as a miss, the pack is compiled for the host, works, and the
// file is rewritten.

#include <hs/hs.h>
#include <sodium.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "sig_test_util.hpp"
#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"

using namespace imcap::signatures;

namespace {

// A database for `mode` compiled for a CPU with every feature Vectorscan knows of. Empty when
// this host and libhs can run it after all (then there is no foreign platform to test with).
std::string foreign_database(unsigned mode) {
  hs_platform_info_t plat{};
  REQUIRE(hs_populate_platform(&plat) == HS_SUCCESS);
  plat.cpu_features |= HS_CPU_FEATURES_AVX2 | HS_CPU_FEATURES_AVX512 | HS_CPU_FEATURES_AVX512VBMI;
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  REQUIRE(hs_compile("geheim", HS_FLAG_SOM_LEFTMOST, mode, &plat, &db, &err) == HS_SUCCESS);
  char* bytes = nullptr;
  std::size_t n = 0;
  REQUIRE(hs_serialize_database(db, &bytes, &n) == HS_SUCCESS);
  hs_free_database(db);
  std::string out(bytes, n);
  std::free(bytes);
  hs_database_t* back = nullptr;
  if (hs_deserialize_database(out.data(), out.size(), &back) == HS_SUCCESS) {
    hs_free_database(back);
    return {};
  }
  return out;
}

}  // namespace

TEST_CASE("cache: a database compiled for another CPU is never loaded", "[signatures][cache]") {
  REQUIRE(sodium_init() >= 0);
  const std::string block = foreign_database(HS_MODE_BLOCK);
  const std::string stream = foreign_database(HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE);
  if (block.empty() || stream.empty()) {
    WARN("this host runs every CPU variant Vectorscan knows of: nothing foreign to test with");
    return;
  }
  sigtest::temp_dir d;
  compile_options opts;
  opts.cache_dir = d.path / "cache";
  const auto file = d.write("p.toml",
                            "name = \"t\"\nversion = \"1\"\n[[rule]]\nid = \"kw\"\n"
                            "kind = \"keyword\"\nkeywords = [\"geheim\", \"grüße\"]\n");
  CHECK_FALSE(loaded_from_cache(*load_pack(file, opts)));
  std::vector<sigtest::fs::path> files;
  for (const auto& e : sigtest::fs::directory_iterator(opts.cache_dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);

  // Same name, a well-formed cache file (layout in signatures/engine.cpp: magic, four sizes,
  // BLAKE2b of the payload, payload), but databases for the foreign CPU.
  std::string payload = block + stream;
  std::string all = "IMCAPHS3";
  for (const std::uint64_t n : {std::uint64_t{block.size()}, std::uint64_t{stream.size()},
                                std::uint64_t{0}, std::uint64_t{0}})
    all.append(reinterpret_cast<const char*>(&n), 8);
  std::array<unsigned char, 32> sum{};
  crypto_generichash(sum.data(), sum.size(), reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size(), nullptr, 0);
  all.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  all += payload;
  {
    std::ofstream o(files[0], std::ios::binary | std::ios::trunc);
    o.write(all.data(), static_cast<std::streamsize>(all.size()));
    REQUIRE(o.good());
  }

  const auto p = load_pack(file, opts);
  CHECK_FALSE(loaded_from_cache(*p));
  scan_input in;
  in.text = "ist das geheim? Grüße";
  const auto r = scan(*p, in);
  CHECK(r.status == scan_status::ok);
  REQUIRE(r.hits.size() == 2);
  CHECK(r.hits[0].begin == 8);
  CHECK(r.hits[0].end == 14);
  CHECK(r.hits[1].begin == 16);
  // The host's databases replaced the foreign ones.
  CHECK(loaded_from_cache(*load_pack(file, opts)));
}
