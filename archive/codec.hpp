#pragma once
// Record encodings and keys of the archive (internal to archive/; layout in archive/README.md).
//
// Records are a compact length-prefixed binary form: a format byte, then every field in a fixed
// order; integers as LEB128 varints (signed ones zigzag-encoded), strings and lists as a varint
// length followed by the bytes or items. The encoding of a record is canonical (one record has
// exactly one encoding), which is what the tamper-evidence chain hashes. Decoding checks every
// length against the input, accepts only the shortest varint spelling and rejects trailing
// bytes: bad bytes give errc::corrupt, never a crash.

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "archive/archive.hpp"

namespace imcap::archive::codec {

inline constexpr std::uint8_t event_format = 1;
inline constexpr std::uint8_t audit_format = 1;
inline constexpr std::size_t hash_size = 32;  // raw sha256

// The canonical bytes of an event; chain_hash is not part of them.
std::string encode_event(const event_record& e);
// Decodes canonical bytes (without the chain hash). errc::corrupt on any inconsistency.
std::error_code decode_event(std::string_view bytes, event_record& out);

std::string encode_audit(const audit_entry& a);
std::error_code decode_audit(std::string_view bytes, audit_entry& out);

// sha256(a || b), raw 32 bytes (libsodium).
std::string sha256_pair(std::string_view a, std::string_view b);
std::string sha256(std::string_view bytes);
std::string to_hex(std::string_view raw);
// Lowercase or uppercase hex to raw bytes; empty optional-like result "" with ok=false on error.
bool from_hex(std::string_view hex, std::string& out);

// Index key parts. A value is written as a tag and the bytes with 0x00 escaped, then a 0x00 0x01
// terminator, so that one value's key is never a prefix of another's. Values too long for an
// LMDB key (511 bytes) are written as a tag and their sha256: the index is then a superset and
// search filters the decoded records anyway.
void append_part(std::string& key, std::string_view value);
// Signed microseconds as an order-preserving big-endian u64 (sign bit flipped).
void append_time(std::string& key, std::int64_t us);
std::int64_t read_time(std::string_view key8) noexcept;

}  // namespace imcap::archive::codec
