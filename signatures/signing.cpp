#include "signatures/signing.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>

#include "signatures/file_util.hpp"

namespace imcap::signatures {

static_assert(public_key_bytes == crypto_sign_PUBLICKEYBYTES);
static_assert(secret_key_bytes == crypto_sign_SECRETKEYBYTES);
static_assert(signature_bytes == crypto_sign_BYTES);

namespace {

constexpr std::string_view secret_header = "imcap-sigpack-secret-key v1";
constexpr std::string_view public_header = "imcap-sigpack-public-key v1";
constexpr std::string_view signature_header = "imcap-sigpack-signature v1";
constexpr std::size_t max_key_file_bytes = 4096;
// Packs are text rule files; anything this large is not a pack.
constexpr std::size_t max_pack_bytes = std::size_t{256} << 20;

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) throw signing_error("libsodium: initialisation failed");
  });
}

std::string to_base64(std::span<const unsigned char> bin) {
  std::string out(sodium_base64_ENCODED_LEN(bin.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bin.data(), bin.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes exactly out.size() bytes; false on bad base64 or a different length.
bool from_base64(std::string_view text, std::span<unsigned char> out) {
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  return len == out.size() && end == text.data() + text.size();
}

std::string hex(std::span<const unsigned char> bin) {
  std::string out(bin.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bin.data(), bin.size());
  out.pop_back();
  return out;
}

// A parsed "<header> <key-id>\n<base64>\n" file.
struct armored {
  std::string key_id;
  std::string body;
};

// Returns an empty optional-like result through `reason` when the text is not in the format.
bool parse_armored(std::string_view text, std::string_view header, armored& out,
                   std::string& reason) {
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos) {
    reason = "truncated: expected a header line and a base64 line";
    return false;
  }
  std::string_view first = text.substr(0, nl);
  if (!first.starts_with(header) || first.size() <= header.size() + 1 ||
      first[header.size()] != ' ') {
    reason = "first line is not '" + std::string(header) + " <key-id>'";
    return false;
  }
  out.key_id = std::string(first.substr(header.size() + 1));
  std::string_view rest = text.substr(nl + 1);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) {
    rest.remove_suffix(1);
  }
  if (rest.empty()) {
    reason = "truncated: the base64 line is missing";
    return false;
  }
  if (rest.find('\n') != std::string_view::npos) {
    reason = "unexpected extra lines after the base64 line";
    return false;
  }
  out.body = std::string(rest);
  return true;
}

std::string read_text(const std::filesystem::path& file, std::size_t max) {
  try {
    const auto bytes = read_file_bytes(file, max);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::runtime_error& e) {
    throw signing_error(e.what());
  }
}

}  // namespace

std::string public_key::key_id() const {
  ensure_sodium();
  std::array<unsigned char, 8> h{};
  crypto_generichash(h.data(), h.size(), bytes.data(), bytes.size(), nullptr, 0);
  return hex(h);
}

public_key secret_key::public_part() const {
  public_key pk;
  crypto_sign_ed25519_sk_to_pk(pk.bytes.data(), bytes.data());
  return pk;
}

public_key write_key_pair(const std::filesystem::path& base) {
  ensure_sodium();
  public_key pk;
  secret_key sk;
  crypto_sign_keypair(pk.bytes.data(), sk.bytes.data());
  const std::string id = pk.key_id();

  std::filesystem::path key_file = base;
  key_file += ".key";
  std::filesystem::path pub_file = base;
  pub_file += ".pub";

  const std::string secret_text =
      std::string(secret_header) + " " + id + "\n" + to_base64(sk.bytes) + "\n";
  sodium_memzero(sk.bytes.data(), sk.bytes.size());
  // O_EXCL: never overwrite an existing secret key; the mode is set at creation so the secret
  // is never readable by others, not even briefly.
  const int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw signing_error(key_file.string() + ": " + std::strerror(errno));
  const ssize_t n = ::write(fd, secret_text.data(), secret_text.size());
  const int werr = errno;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(secret_text.size()) || !synced) {
    ::unlink(key_file.c_str());
    throw signing_error(key_file.string() + ": write failed: " + std::strerror(werr));
  }
  try {
    write_file_atomically(
        pub_file, std::string(public_header) + " " + id + "\n" + to_base64(pk.bytes) + "\n", 0644);
  } catch (const std::runtime_error& e) {
    throw signing_error(e.what());
  }
  return pk;
}

public_key read_public_key(const std::filesystem::path& file) {
  ensure_sodium();
  const std::string text = read_text(file, max_key_file_bytes);
  armored a;
  std::string reason;
  if (!parse_armored(text, public_header, a, reason)) {
    throw signing_error(file.string() + ": not an imcap public key: " + reason);
  }
  public_key pk;
  if (!from_base64(a.body, pk.bytes)) {
    throw signing_error(file.string() + ": not an imcap public key: bad base64 or wrong length");
  }
  if (pk.key_id() != a.key_id) {
    throw signing_error(file.string() + ": key id in the header does not match the key");
  }
  return pk;
}

secret_key read_secret_key(const std::filesystem::path& file) {
  ensure_sodium();
  std::string text = read_text(file, max_key_file_bytes);
  armored a;
  std::string reason;
  const bool parsed = parse_armored(text, secret_header, a, reason);
  sodium_memzero(text.data(), text.size());
  if (!parsed) throw signing_error(file.string() + ": not an imcap secret key: " + reason);
  secret_key sk;
  const bool decoded = from_base64(a.body, sk.bytes);
  sodium_memzero(a.body.data(), a.body.size());
  if (!decoded) {
    throw signing_error(file.string() + ": not an imcap secret key: bad base64 or wrong length");
  }
  if (sk.public_part().key_id() != a.key_id) {
    throw signing_error(file.string() + ": key id in the header does not match the key");
  }
  return sk;
}

std::vector<public_key> read_public_keys(const std::filesystem::path& path) {
  std::vector<public_key> out;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      if (entry.path().extension() == ".pub") files.push_back(entry.path());
    }
    if (ec) throw signing_error(path.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.push_back(read_public_key(f));
    if (out.empty()) throw signing_error(path.string() + ": no *.pub files in this directory");
    return out;
  }
  out.push_back(read_public_key(path));
  return out;
}

std::filesystem::path signature_path_for(const std::filesystem::path& file) {
  std::filesystem::path sig = file;
  sig += ".sig";
  return sig;
}

std::array<unsigned char, signature_bytes> sign_bytes(std::span<const unsigned char> data,
                                                      const secret_key& key) {
  ensure_sodium();
  std::array<unsigned char, signature_bytes> sig{};
  crypto_sign_detached(sig.data(), nullptr, data.data(), data.size(), key.bytes.data());
  return sig;
}

bool verify_bytes(std::span<const unsigned char> data,
                  std::span<const unsigned char, signature_bytes> sig, const public_key& key) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data(), data.data(), data.size(), key.bytes.data()) == 0;
}

std::filesystem::path sign_file(const std::filesystem::path& file, const secret_key& key) {
  std::vector<unsigned char> data;
  try {
    data = read_file_bytes(file, max_pack_bytes);
  } catch (const std::runtime_error& e) {
    throw signing_error(e.what());
  }
  const auto sig = sign_bytes(data, key);
  const std::filesystem::path out = signature_path_for(file);
  try {
    write_file_atomically(out, std::string(signature_header) + " " + key.public_part().key_id() +
                                   "\n" + to_base64(sig) + "\n");
  } catch (const std::runtime_error& e) {
    throw signing_error(e.what());
  }
  return out;
}

verify_result verify_file(const std::filesystem::path& file, std::span<const public_key> trusted,
                          const std::filesystem::path& sig_arg) {
  std::vector<unsigned char> data;
  try {
    data = read_file_bytes(file, max_pack_bytes);
  } catch (const std::runtime_error& e) {
    verify_result r;
    r.status = verify_status::missing;
    r.message = std::string("cannot read the pack: ") + e.what();
    return r;
  }
  return verify_data(data, file.string(), trusted,
                     sig_arg.empty() ? signature_path_for(file) : sig_arg);
}

verify_result verify_data(std::span<const unsigned char> data, const std::string& label,
                          std::span<const public_key> trusted,
                          const std::filesystem::path& sig_file) {
  verify_result r;
  std::string sig_text;
  try {
    const auto bytes = read_file_bytes(sig_file, max_key_file_bytes);
    sig_text.assign(bytes.begin(), bytes.end());
  } catch (const std::runtime_error& e) {
    r.status = verify_status::missing;
    r.message = std::string("no signature: ") + e.what();
    return r;
  }
  armored a;
  std::string reason;
  std::array<unsigned char, signature_bytes> sig{};
  if (!parse_armored(sig_text, signature_header, a, reason)) {
    r.status = verify_status::malformed;
    r.message = sig_file.string() + ": not an imcap signature: " + reason;
    return r;
  }
  if (!from_base64(a.body, sig)) {
    r.status = verify_status::malformed;
    r.message = sig_file.string() +
                ": not an imcap signature: truncated or corrupt (bad base64 or wrong length)";
    return r;
  }
  r.key_id = a.key_id;
  for (const auto& key : trusted) {
    if (key.key_id() != a.key_id) continue;
    if (verify_bytes(data, sig, key)) {
      r.status = verify_status::ok;
      r.message = label + ": good signature by key " + a.key_id;
    } else {
      r.status = verify_status::bad_signature;
      r.message = label + ": BAD signature: the pack or " + sig_file.string() +
                  " was modified after signing (key " + a.key_id + ")";
    }
    return r;
  }
  r.status = verify_status::untrusted_key;
  r.message = label + ": signed by key " + a.key_id + ", which is not a trusted key";
  return r;
}

}  // namespace imcap::signatures
