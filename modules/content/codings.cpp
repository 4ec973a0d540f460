#include "modules/content/codings.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "modules/http.hpp"

namespace imcap::modules::content {

namespace {

// Output is produced in chunks of this size, so a stage never holds more than its limit plus
// one chunk, whatever the stream claims.
constexpr std::size_t chunk_size = 64 * 1024;

// zstd frames may ask for a window of up to 2 GiB; imcap refuses more than 16 MiB of window
// memory per body (chat bodies are far smaller; encoders size the window to the content).
constexpr int zstd_window_log_max = 24;

// The output budget of one stage: the smaller of the absolute cap and the ratio cap.
struct budget {
  std::size_t cap = 0;
  bool ratio_bound = false;  // the ratio cap is the tighter one

  budget(const limits& lim, std::size_t input_size) {
    std::size_t by_ratio =
        lim.max_ratio != 0 && input_size > std::numeric_limits<std::size_t>::max() / lim.max_ratio
            ? std::numeric_limits<std::size_t>::max()
            : input_size * lim.max_ratio;
    cap = std::min(lim.max_decoded_bytes, by_ratio);
    ratio_bound = by_ratio < lim.max_decoded_bytes;
  }

  decode_error exceeded(std::string_view coding, const limits& lim) const {
    if (ratio_bound)
      return {errc::ratio_exceeded, std::string(coding) + ": decoded size over " +
                                        std::to_string(lim.max_ratio) + " times the input (" +
                                        std::to_string(cap) + " bytes)"};
    return {errc::too_large,
            std::string(coding) + ": decoded size over " + std::to_string(cap) + " bytes"};
  }
};

decode_error inflate_stream(std::string_view in, int window_bits, bool multi_member,
                            std::string_view coding, const limits& lim, std::string& out,
                            bool& header_rejected) {
  header_rejected = false;
  budget b(lim, in.size());
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK)
    return {errc::malformed_encoding, std::string(coding) + ": zlib could not start"};
  struct closer {
    z_stream* z;
    ~closer() { inflateEnd(z); }
  } close_on_exit{&zs};

  std::vector<unsigned char> buf(chunk_size);
  // zlib's avail_in is 32-bit: feed the input in slices.
  std::size_t pos = 0;
  auto refill = [&] {
    if (zs.avail_in == 0 && pos < in.size()) {
      auto n = std::min<std::size_t>(in.size() - pos, 1u << 30);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
      zs.avail_in = static_cast<uInt>(n);
      pos += n;
    }
  };
  refill();
  // Every iteration either consumes input, produces output, or ends the loop.
  for (;;) {
    zs.next_out = buf.data();
    zs.avail_out = static_cast<uInt>(buf.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    auto produced = buf.size() - zs.avail_out;
    if (out.size() + produced > b.cap) return b.exceeded(coding, lim);
    out.append(reinterpret_cast<const char*>(buf.data()), produced);
    if (rc == Z_STREAM_END) {
      refill();
      if (!multi_member || zs.avail_in == 0) {
        if (zs.avail_in != 0 || pos < in.size())
          return {errc::malformed_encoding, std::string(coding) + ": " +
                                                std::to_string(zs.avail_in + (in.size() - pos)) +
                                                " bytes after the end of the stream"};
        return {};
      }
      // Another gzip member follows (RFC 1952 §2.2).
      if (inflateReset(&zs) != Z_OK)
        return {errc::malformed_encoding, std::string(coding) + ": zlib could not reset"};
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      if (out.empty() && zs.total_out == 0) header_rejected = true;
      return {errc::malformed_encoding,
              std::string(coding) + ": corrupt stream (" + (zs.msg ? zs.msg : "zlib error") + ")"};
    }
    if (rc == Z_MEM_ERROR)
      return {errc::malformed_encoding, std::string(coding) + ": zlib out of memory"};
    if (rc == Z_BUF_ERROR || (rc == Z_OK && produced == 0 && zs.avail_in == 0)) {
      refill();
      if (zs.avail_in == 0)
        return {errc::truncated, std::string(coding) + ": stream ends before its end marker"};
    }
  }
}

decode_error undo_gzip(std::string_view in, const limits& lim, std::string& out) {
  bool rejected = false;
  return inflate_stream(in, 16 + MAX_WBITS, true, "gzip", lim, out, rejected);
}

decode_error undo_deflate(std::string_view in, const limits& lim, std::string& out) {
  // RFC 9110 says "deflate" is the zlib format; some servers send raw deflate. Try the zlib
  // wrapper; when zlib finds the stream corrupt or cut short (a raw stream can start with two
  // bytes that pass for a zlib header), try raw deflate and keep zlib's error if that fails too.
  // Limit errors are final.
  bool rejected = false;
  auto e = inflate_stream(in, MAX_WBITS, false, "deflate", lim, out, rejected);
  if (!e || (e.code != errc::malformed_encoding && e.code != errc::truncated)) return e;
  std::string raw;
  auto raw_error = inflate_stream(in, -MAX_WBITS, false, "deflate", lim, raw, rejected);
  if (raw_error && raw_error.code != errc::too_large && raw_error.code != errc::ratio_exceeded)
    return e;
  out = std::move(raw);
  return raw_error;
}

decode_error undo_br(std::string_view in, const limits& lim, std::string& out) {
  budget b(lim, in.size());
  BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (st == nullptr) return {errc::malformed_encoding, "br: decoder could not start"};
  struct closer {
    BrotliDecoderState* s;
    ~closer() { BrotliDecoderDestroyInstance(s); }
  } close_on_exit{st};

  std::vector<std::uint8_t> buf(chunk_size);
  auto next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t avail_in = in.size();
  for (;;) {
    std::uint8_t* next_out = buf.data();
    std::size_t avail_out = buf.size();
    auto rc =
        BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    auto produced = buf.size() - avail_out;
    if (out.size() + produced > b.cap) return b.exceeded("br", lim);
    out.append(reinterpret_cast<const char*>(buf.data()), produced);
    switch (rc) {
      case BROTLI_DECODER_RESULT_SUCCESS:
        if (avail_in != 0)
          return {errc::malformed_encoding,
                  "br: " + std::to_string(avail_in) + " bytes after the end of the stream"};
        return {};
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        continue;
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        return {errc::truncated, "br: stream ends before its last meta-block"};
      case BROTLI_DECODER_RESULT_ERROR:
      default:
        return {errc::malformed_encoding,
                std::string("br: corrupt stream (") +
                    BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st)) + ")"};
    }
  }
}

decode_error undo_zstd(std::string_view in, const limits& lim, std::string& out) {
  budget b(lim, in.size());
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (dctx == nullptr) return {errc::malformed_encoding, "zstd: decoder could not start"};
  struct closer {
    ZSTD_DCtx* d;
    ~closer() { ZSTD_freeDCtx(d); }
  } close_on_exit{dctx};
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, zstd_window_log_max);

  std::vector<char> buf(chunk_size);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::size_t last = 0;
  for (;;) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    last = ZSTD_decompressStream(dctx, &ob, &ib);
    if (ZSTD_isError(last)) {
      return {errc::malformed_encoding,
              std::string("zstd: corrupt stream (") + ZSTD_getErrorName(last) + ")"};
    }
    if (out.size() + ob.pos > b.cap) return b.exceeded("zstd", lim);
    out.append(buf.data(), ob.pos);
    // Done when all input is consumed and the decoder has nothing left to flush.
    if (ib.pos == ib.size && ob.pos < ob.size) break;
  }
  if (last != 0) return {errc::truncated, "zstd: stream ends inside a frame"};
  return {};
}

// Content-Encoding list entries, lowercased, in header order, "identity" and empties dropped.
std::vector<std::string> coding_list(std::string_view header) {
  std::vector<std::string> r;
  std::size_t i = 0;
  while (i <= header.size()) {
    auto comma = header.find(',', i);
    if (comma == std::string_view::npos) comma = header.size();
    auto tok = header_token(header.substr(i, comma - i));
    if (!tok.empty() && tok != "identity") r.push_back(std::move(tok));
    i = comma + 1;
  }
  return r;
}

}  // namespace

decode_error decode_content(std::string_view content_encoding, std::string_view body,
                            const limits& lim, std::string& out) {
  out.clear();
  auto codings = coding_list(content_encoding);
  if (codings.size() > lim.max_codings)
    return {errc::too_deep, "Content-Encoding lists " + std::to_string(codings.size()) +
                                " codings, more than " + std::to_string(lim.max_codings)};
  if (codings.empty()) {
    if (body.size() > lim.max_decoded_bytes)
      return {errc::too_large, "body of " + std::to_string(body.size()) + " bytes over " +
                                   std::to_string(lim.max_decoded_bytes)};
    out.assign(body);
    return {};
  }
  std::string current(body);
  // The last coding listed was applied last, so it is undone first.
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    std::string next;
    decode_error e;
    if (*it == "gzip" || *it == "x-gzip")
      e = undo_gzip(current, lim, next);
    else if (*it == "deflate")
      e = undo_deflate(current, lim, next);
    else if (*it == "br")
      e = undo_br(current, lim, next);
    else if (*it == "zstd")
      e = undo_zstd(current, lim, next);
    else
      return {errc::unsupported_encoding, "Content-Encoding \"" + *it + "\" is not supported"};
    if (e) return e;
    current = std::move(next);
  }
  out = std::move(current);
  return {};
}

namespace {

decode_error apply_zlib(std::string_view in, int window_bits, std::string_view coding,
                        std::string& out) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return {errc::malformed_encoding, std::string(coding) + ": zlib could not start"};
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return {errc::malformed_encoding, std::string(coding) + ": zlib could not finish"};
  return {};
}

}  // namespace

decode_error encode_content(std::string_view content_encoding, std::string_view body,
                            std::string& out) {
  out.clear();
  std::string current(body);
  for (const auto& c : coding_list(content_encoding)) {
    std::string next;
    if (c == "gzip" || c == "x-gzip") {
      if (auto e = apply_zlib(current, 16 + MAX_WBITS, c, next)) return e;
    } else if (c == "deflate") {
      if (auto e = apply_zlib(current, MAX_WBITS, c, next)) return e;
    } else if (c == "br") {
      std::size_t n = BrotliEncoderMaxCompressedSize(current.size());
      next.resize(n == 0 ? current.size() + 1024 : n);
      std::size_t written = next.size();
      if (!BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT,
                                 current.size(),
                                 reinterpret_cast<const std::uint8_t*>(current.data()), &written,
                                 reinterpret_cast<std::uint8_t*>(next.data())))
        return {errc::malformed_encoding, "br: encoder failed"};
      next.resize(written);
    } else if (c == "zstd") {
      next.resize(ZSTD_compressBound(current.size()));
      auto n = ZSTD_compress(next.data(), next.size(), current.data(), current.size(), 3);
      if (ZSTD_isError(n))
        return {errc::malformed_encoding, std::string("zstd: ") + ZSTD_getErrorName(n)};
      next.resize(n);
    } else {
      return {errc::unsupported_encoding, "Content-Encoding \"" + c + "\" is not supported"};
    }
    current = std::move(next);
  }
  out = std::move(current);
  return {};
}

}  // namespace imcap::modules::content
