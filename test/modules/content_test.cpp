// Content codings against real encoders (zlib, brotli, zstd) run inside the test: round trips,
// stacked codings, corrupt and truncated streams, and decompression bombs that must stop at the
// limit with bounded work.

#include <chrono>
#include <string>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>
#include <catch2/catch.hpp>

#include "modules/content/codings.hpp"

using namespace imcap::modules;
using imcap::modules::content::decode_content;
using imcap::modules::content::encode_content;

namespace {

// zlib deflate with the given window bits (15 zlib, -15 raw, 31 gzip), fed `repeat` times with
// `chunk`, so large inputs never sit in memory.
std::string zlib_compress(std::string_view chunk, int window_bits, std::size_t repeat = 1,
                          int level = Z_BEST_COMPRESSION) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out;
  std::string buf(1 << 16, '\0');
  for (std::size_t i = 0; i < repeat; ++i) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
    zs.avail_in = static_cast<uInt>(chunk.size());
    int flush = i + 1 == repeat ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf.data());
      zs.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&zs, flush);
      out.append(buf.data(), buf.size() - zs.avail_out);
    } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

std::string brotli_compress(std::string_view chunk, std::size_t repeat = 1, int quality = 5) {
  auto* st = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  BrotliEncoderSetParameter(st, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(quality));
  std::string out;
  std::string buf(1 << 16, '\0');
  for (std::size_t i = 0; i < repeat; ++i) {
    auto op = i + 1 == repeat ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    std::size_t avail_in = chunk.size();
    auto next_in = reinterpret_cast<const std::uint8_t*>(chunk.data());
    for (;;) {
      std::size_t avail_out = buf.size();
      auto next_out = reinterpret_cast<std::uint8_t*>(buf.data());
      REQUIRE(
          BrotliEncoderCompressStream(st, op, &avail_in, &next_in, &avail_out, &next_out, nullptr));
      out.append(buf.data(), buf.size() - avail_out);
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(st) &&
          (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(st)))
        break;
    }
  }
  BrotliEncoderDestroyInstance(st);
  return out;
}

std::string zstd_compress(std::string_view chunk, std::size_t repeat = 1, int level = 3) {
  auto* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string out;
  std::string buf(ZSTD_CStreamOutSize(), '\0');
  for (std::size_t i = 0; i < repeat; ++i) {
    auto mode = i + 1 == repeat ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer in{chunk.data(), chunk.size(), 0};
    for (;;) {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      auto left = ZSTD_compressStream2(cctx, &ob, &in, mode);
      REQUIRE(!ZSTD_isError(left));
      out.append(buf.data(), ob.pos);
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
  }
  ZSTD_freeCCtx(cctx);
  return out;
}

const std::string sample =
    "{\"channel\":\"C024BE91L\",\"text\":\"Grüße aus Köln — 你好 👋\",\"ts\":\"1355517523.000005\"}";

decode_error undo(std::string_view coding, std::string_view body, std::string& out,
                  const limits& lim = {}) {
  return decode_content(coding, body, lim, out);
}

}  // namespace

TEST_CASE("each coding round-trips text encoded by the real library") {
  std::string out;
  SECTION("identity and empty header") {
    CHECK(!undo("", sample, out));
    CHECK(out == sample);
    CHECK(!undo("identity", sample, out));
    CHECK(out == sample);
  }
  SECTION("gzip and x-gzip") {
    auto gz = zlib_compress(sample, 31);
    CHECK(!undo("gzip", gz, out));
    CHECK(out == sample);
    CHECK(!undo("X-GZIP", gz, out));
    CHECK(out == sample);
  }
  SECTION("gzip with several members is concatenated") {
    auto gz = zlib_compress("first ", 31) + zlib_compress("second", 31);
    CHECK(!undo("gzip", gz, out));
    CHECK(out == "first second");
  }
  SECTION("deflate as zlib and as raw deflate") {
    CHECK(!undo("deflate", zlib_compress(sample, 15), out));
    CHECK(out == sample);
    out.clear();
    CHECK(!undo("deflate", zlib_compress(sample, -15), out));
    CHECK(out == sample);
  }
  SECTION("raw deflate whose first two bytes pass for a zlib header") {
    // A non-final stored block of 29 bytes: 0x08 0x1d is also a valid zlib header.
    std::string data(29, 'd');
    std::string crafted("\x08\x1d\x00\xe2\xff", 5);
    crafted += data;
    crafted += zlib_compress("tail", -15);
    REQUIRE((static_cast<unsigned>(0x08) * 256 + 0x1d) % 31 == 0);
    CHECK(!undo("deflate", crafted, out));
    CHECK(out == data + "tail");
  }
  SECTION("br") {
    CHECK(!undo("br", brotli_compress(sample), out));
    CHECK(out == sample);
  }
  SECTION("zstd, including two frames") {
    CHECK(!undo("zstd", zstd_compress(sample), out));
    CHECK(out == sample);
    CHECK(!undo("zstd", zstd_compress("ab") + zstd_compress("cd"), out));
    CHECK(out == "abcd");
  }
  SECTION("stacked codings are undone right to left") {
    auto body = brotli_compress(zlib_compress(sample, 31));  // gzip applied first, then br
    CHECK(!undo("gzip, br", body, out));
    CHECK(out == sample);
    CHECK(undo("br, gzip", body, out).code == errc::malformed_encoding);
  }
  SECTION("empty body with gzip is a truncated stream") {
    CHECK(undo("gzip", "", out).code == errc::truncated);
    CHECK(undo("zstd", "", out).code == errc::truncated);
    CHECK(undo("br", "", out).code == errc::truncated);
  }
}

TEST_CASE("encode_content output decodes back for every coding and stack") {
  for (std::string_view coding : {"gzip", "x-gzip", "deflate", "br", "zstd", "gzip, zstd",
                                  "deflate, br, gzip", "identity", ""}) {
    std::string enc, dec;
    INFO(coding);
    REQUIRE(!encode_content(coding, sample, enc));
    if (!coding.empty() && coding != "identity") CHECK(enc != sample);
    REQUIRE(!decode_content(coding, enc, limits{}, dec));
    CHECK(dec == sample);
  }
  std::string enc;
  CHECK(encode_content("compress", sample, enc).code == errc::unsupported_encoding);
}

TEST_CASE("unknown, too many and corrupt codings give precise errors") {
  std::string out;
  auto before = error_count(errc::unsupported_encoding);
  auto e = undo("compress", "x", out);
  CHECK(e.code == errc::unsupported_encoding);
  CHECK(e.detail.find("compress") != std::string::npos);
  CHECK(error_count(errc::unsupported_encoding) == before + 1);

  CHECK(undo("gzip, gzip, gzip, gzip, gzip", "x", out).code == errc::too_deep);

  auto gz = zlib_compress(sample, 31);
  SECTION("truncated gzip keeps the error distinct from corruption") {
    CHECK(undo("gzip", gz.substr(0, gz.size() - 5), out).code == errc::truncated);
    CHECK(undo("gzip", gz.substr(0, gz.size() / 2), out).code == errc::truncated);
  }
  SECTION("a flipped byte in the deflate data or the CRC") {
    auto bad = gz;
    bad[bad.size() - 6] = static_cast<char>(bad[bad.size() - 6] ^ 0x55);  // CRC32
    CHECK(undo("gzip", bad, out).code == errc::malformed_encoding);
    CHECK(undo("gzip", "not gzip at all", out).code == errc::malformed_encoding);
  }
  SECTION("garbage after the last gzip member") {
    CHECK(undo("gzip", gz + "junk", out).code == errc::malformed_encoding);
  }
  SECTION("deflate that is neither zlib nor raw") {
    CHECK(undo("deflate", std::string("\xff\xff\xff\xff", 4), out).code ==
          errc::malformed_encoding);
  }
  SECTION("br corrupt and truncated") {
    auto br = brotli_compress(std::string(1000, 'x') + sample);
    CHECK(undo("br", br.substr(0, br.size() - 1), out).code == errc::truncated);
    CHECK(undo("br", br + "tail", out).code == errc::malformed_encoding);
    CHECK(undo("br", "\xff\xff\xff\xff\xff", out).code == errc::malformed_encoding);
  }
  SECTION("zstd corrupt and truncated") {
    auto zs = zstd_compress(sample);
    CHECK(undo("zstd", zs.substr(0, zs.size() - 3), out).code == errc::truncated);
    CHECK(undo("zstd", "not zstd", out).code == errc::malformed_encoding);
    auto bad = zs;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0xff);
    CHECK(undo("zstd", bad, out).code == errc::malformed_encoding);
  }
}

TEST_CASE("identity bodies are bounded too") {
  limits lim;
  lim.max_decoded_bytes = 10;
  std::string out;
  CHECK(decode_content("", "0123456789", lim, out).code == errc::ok);
  CHECK(decode_content("", "0123456789a", lim, out).code == errc::too_large);
}

TEST_CASE("ratio limit applies per stage") {
  limits lim;
  lim.max_ratio = 10;
  std::string plain(100'000, 'a');
  std::string out;
  auto gz = zlib_compress(plain, 31);
  REQUIRE(gz.size() * 10 < plain.size());
  auto before = error_count(errc::ratio_exceeded);
  CHECK(decode_content("gzip", gz, lim, out).code == errc::ratio_exceeded);
  CHECK(error_count(errc::ratio_exceeded) == before + 1);
  lim.max_ratio = 100'000;
  CHECK(!decode_content("gzip", gz, lim, out));
  CHECK(out == plain);
}

TEST_CASE("decompression bombs stop at the limit quickly", "[bomb]") {
  const std::string zeros(1 << 20, '\0');
  using clock = std::chrono::steady_clock;
  std::string out;
  limits lim;  // 64 MiB, ratio 200

  SECTION("1 GiB of zeros in gzip (about 1 MB): too_large at 64 MiB") {
    auto gz = zlib_compress(zeros, 31, 1024, 9);
    INFO("compressed size " << gz.size());
    REQUIRE(gz.size() < 1'100'000);
    auto t0 = clock::now();
    auto e = decode_content("gzip", gz, lim, out);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
    CHECK(e.code == errc::too_large);
    CHECK(out.size() <= lim.max_decoded_bytes);
    CHECK(ms < 20000);  // a hang guard, not a performance claim (bench/ has those)
  }
  SECTION("1 GiB of zeros in zstd (a few kB): ratio_exceeded long before 64 MiB") {
    auto zs = zstd_compress(zeros, 1024, 19);
    INFO("compressed size " << zs.size());
    REQUIRE(zs.size() < 100'000);
    auto e = decode_content("zstd", zs, lim, out);
    CHECK(e.code == errc::ratio_exceeded);
    CHECK(out.size() <= zs.size() * lim.max_ratio);
  }
  SECTION("256 MiB of zeros in br: ratio_exceeded") {
    auto br = brotli_compress(zeros, 256, 1);
    INFO("compressed size " << br.size());
    auto e = decode_content("br", br, lim, out);
    CHECK(e.code == errc::ratio_exceeded);
    CHECK(out.size() <= br.size() * lim.max_ratio);
  }
  SECTION("a bomb hidden under a second coding is caught at the inner stage") {
    auto inner = zstd_compress(zeros, 64, 19);  // 64 MiB
    auto outer = zlib_compress(inner, 31);
    auto e = decode_content("zstd, gzip", outer, lim, out);
    CHECK(e.code == errc::ratio_exceeded);
  }
}
