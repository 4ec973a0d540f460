#pragma once
// Pack signing: ed25519 detached signatures (libsodium) over the exact bytes of a pack file.
//
// Files (all text, so they survive mail and tickets):
//   NAME.key  "imcap-sigpack-secret-key v1 <key-id>\n<base64 secret key>\n"   mode 0600
//   NAME.pub  "imcap-sigpack-public-key v1 <key-id>\n<base64 public key>\n"
//   FILE.sig  "imcap-sigpack-signature v1 <key-id>\n<base64 signature>\n"
// The key id is the first 8 bytes (16 hex digits) of BLAKE2b over the public key; it names the
// key that signed a pack so `verify` can say "signed by a key you do not trust" instead of just
// "bad signature".
//
// Errors: reading keys and writing files throw signing_error whose what() names the file and
// the reason. Verification never throws: it returns a verify_result.
// Thread-safety: every function is safe to call concurrently (libsodium is initialised once).

#include <array>
#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace imcap::signatures {

class signing_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t public_key_bytes = 32;  // crypto_sign_PUBLICKEYBYTES
inline constexpr std::size_t secret_key_bytes = 64;  // crypto_sign_SECRETKEYBYTES
inline constexpr std::size_t signature_bytes = 64;   // crypto_sign_BYTES

struct public_key {
  std::array<unsigned char, public_key_bytes> bytes{};
  std::string key_id() const;  // 16 lowercase hex digits
};

struct secret_key {
  std::array<unsigned char, secret_key_bytes> bytes{};  // libsodium layout: seed || public key
  public_key public_part() const;
};

// Creates a fresh key pair and writes base.key (0600, refused if it already exists) and
// base.pub. Returns the public key.
public_key write_key_pair(const std::filesystem::path& base);

public_key read_public_key(const std::filesystem::path& file);
secret_key read_secret_key(const std::filesystem::path& file);

// Reads every *.pub in a directory, or the single file when `path` is a file.
std::vector<public_key> read_public_keys(const std::filesystem::path& path);

// The .sig path that belongs to a pack file: "FILE.sig".
std::filesystem::path signature_path_for(const std::filesystem::path& file);

// Signs the exact bytes of `file` and writes signature_path_for(file) (replaced atomically).
// Returns the path written.
std::filesystem::path sign_file(const std::filesystem::path& file, const secret_key& key);

enum class verify_status {
  ok,             // signature valid and made by one of the trusted keys
  bad_signature,  // a trusted key's id matches but the bytes or the signature were changed
  untrusted_key,  // well-formed signature by a key that is not among the trusted ones
  malformed,      // .sig file unreadable as a signature (truncated, wrong header, bad base64)
  missing,        // no .sig file, or the pack itself cannot be read
};

struct verify_result {
  verify_status status = verify_status::missing;
  std::string message;  // one line for a human: what was checked and what went wrong
  std::string key_id;   // key id named in the .sig (empty when malformed/missing)
  bool ok() const noexcept { return status == verify_status::ok; }
};

// Verifies `file` against `sig` (default: signature_path_for(file)) with any of `trusted`.
verify_result verify_file(const std::filesystem::path& file, std::span<const public_key> trusted,
                          const std::filesystem::path& sig = {});

// The same check over bytes already in memory (the store verifies exactly the bytes it copies).
// `label` names the data in messages.
verify_result verify_data(std::span<const unsigned char> data, const std::string& label,
                          std::span<const public_key> trusted,
                          const std::filesystem::path& sig_file);

// Low-level pieces, for the store and tests.
std::array<unsigned char, signature_bytes> sign_bytes(std::span<const unsigned char> data,
                                                      const secret_key& key);
bool verify_bytes(std::span<const unsigned char> data,
                  std::span<const unsigned char, signature_bytes> sig, const public_key& key);

}  // namespace imcap::signatures
