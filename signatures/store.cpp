#include "signatures/store.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "signatures/engine.hpp"
#include "signatures/file_util.hpp"

namespace imcap::signatures {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_pack_bytes = std::size_t{256} << 20;
constexpr std::size_t max_small_file = 64 * 1024;
constexpr std::size_t max_history = 1000;
constexpr std::string_view pack_file_name = "pack.toml";
constexpr std::string_view sig_file_name = "pack.toml.sig";

[[noreturn]] void refuse(std::string why) {
  throw store_error({std::move(why)});
}

bool safe_component(std::string_view s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string read_small(const fs::path& p) {
  const auto bytes = read_file_bytes(p, max_small_file);
  return std::string(bytes.begin(), bytes.end());
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::optional<std::string> read_active(const fs::path& pack_dir) {
  std::error_code ec;
  if (!fs::exists(pack_dir / "active", ec)) return std::nullopt;
  auto v = trim(read_small(pack_dir / "active"));
  if (v.empty()) return std::nullopt;
  return v;
}

std::vector<std::string> read_history(const fs::path& pack_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(pack_dir / "history", ec)) return out;
  std::istringstream in(read_small(pack_dir / "history"));
  std::string line;
  while (std::getline(in, line) && out.size() < max_history) {
    line = trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void write_history(const fs::path& pack_dir, std::vector<std::string> h) {
  if (h.size() > max_history) h.erase(h.begin(), h.end() - static_cast<long>(max_history));
  std::string text;
  for (const auto& v : h) text += v + "\n";
  write_file_atomically(pack_dir / "history", text);
}

void activate(const fs::path& pack_dir, const std::string& version) {
  write_file_atomically(pack_dir / "active", version + "\n");
}

// The key id named on the .sig header line, or "" (the store does not re-verify on list).
std::string signer_of(const fs::path& sig) {
  std::error_code ec;
  if (!fs::exists(sig, ec)) return {};
  try {
    const std::string text = read_small(sig);
    const auto nl = text.find('\n');
    const std::string first = text.substr(0, nl);
    const auto sp = first.rfind(' ');
    return sp == std::string::npos ? std::string("?") : first.substr(sp + 1);
  } catch (const std::runtime_error&) {
    return "?";
  }
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

store_error::store_error(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string s;
        for (const auto& p : problems) s += (s.empty() ? "" : "\n") + p;
        return s;
      }()),
      problems_(std::move(problems)) {}

std::string sha256_hex(std::span<const unsigned char> bytes) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium: initialisation failed");
  std::array<unsigned char, crypto_hash_sha256_BYTES> h{};
  crypto_hash_sha256(h.data(), bytes.data(), bytes.size());
  std::string out(h.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), h.data(), h.size());
  out.pop_back();
  return out;
}

pack_store::pack_store(fs::path dir) : dir_(std::move(dir)) {}

install_outcome pack_store::install(const fs::path& file, const install_policy& policy) {
  // 1. The exact bytes that will be stored; the signature is checked over these.
  std::vector<unsigned char> bytes;
  try {
    bytes = read_file_bytes(file, max_pack_bytes);
  } catch (const std::runtime_error& e) {
    refuse(e.what());
  }
  const fs::path sig_path = signature_path_for(file);
  std::error_code ec;
  const bool has_sig = fs::exists(sig_path, ec);
  std::vector<unsigned char> sig_bytes;
  install_outcome out;
  if (has_sig) {
    try {
      sig_bytes = read_file_bytes(sig_path, max_small_file);
    } catch (const std::runtime_error& e) {
      refuse(e.what());
    }
  }
  if (!has_sig && policy.require_signed) {
    refuse(file.string() + ": refused: the pack is unsigned (no " + sig_path.string() +
           ") and signatures.require_signed is on; sign it with `imcapctl sigpack sign`");
  }
  if (has_sig && (policy.require_signed || !policy.trusted.empty())) {
    const verify_result v = verify_data(bytes, file.string(), policy.trusted, sig_path);
    if (!v.ok()) refuse("refused: " + v.message);
    out.signed_by = v.key_id;
  }

  // 2. It must load and compile; a broken pack never reaches the store.
  std::shared_ptr<const compiled_pack> pack;
  try {
    pack = load_pack(file, compile_options{policy.cache_dir});
  } catch (const pack_error& e) {
    std::vector<std::string> problems = e.problems();
    problems.insert(problems.begin(), file.string() + ": refused: the pack does not load");
    throw store_error(std::move(problems));
  }
  const pack_identity id = identity_of(*pack);
  out.name = id.name;
  out.version = id.version;
  out.rules = id.rules;
  out.sha256 = sha256_hex(bytes);
  if (!id.sha256.empty() && id.sha256 != out.sha256) {
    refuse(file.string() + ": refused: the file changed while it was being installed");
  }
  if (!safe_component(id.name)) {
    refuse(file.string() + ": refused: pack name \"" + id.name +
           "\" must be letters, digits, '.', '_' or '-'");
  }
  if (!safe_component(id.version)) {
    refuse(file.string() + ": refused: pack version \"" + id.version +
           "\" must be letters, digits, '.', '_' or '-'");
  }

  // 3. Copy into <store>/<name>/<version>, through a staging directory renamed into place.
  const fs::path pack_dir = dir_ / id.name;
  const fs::path dest = pack_dir / id.version;
  try {
    fs::create_directories(pack_dir);
    if (fs::exists(dest / std::string(pack_file_name))) {
      const auto existing = read_file_bytes(dest / std::string(pack_file_name), max_pack_bytes);
      if (sha256_hex(existing) != out.sha256) {
        refuse(file.string() + ": refused: " + id.name + " version " + id.version +
               " is already installed with different content; give the pack a new version");
      }
      out.already_installed = true;
      if (!sig_bytes.empty()) {
        write_file_atomically(dest / std::string(sig_file_name),
                              std::span<const unsigned char>(sig_bytes));
      }
    } else {
      const fs::path staging =
          pack_dir / (".staging-" + id.version + "-" + std::to_string(::getpid()));
      fs::remove_all(staging);
      fs::create_directory(staging);
      write_file_atomically(staging / std::string(pack_file_name),
                            std::span<const unsigned char>(bytes));
      if (!sig_bytes.empty()) {
        write_file_atomically(staging / std::string(sig_file_name),
                              std::span<const unsigned char>(sig_bytes));
      }
      fsync_dir(staging);
      fs::rename(staging, dest);
      fsync_dir(pack_dir);
    }
    // 4. Make it active and remember the order for rollback.
    out.previous_active = read_active(pack_dir).value_or("");
    if (out.previous_active != id.version) {
      activate(pack_dir, id.version);
      auto h = read_history(pack_dir);
      if (h.empty() && !out.previous_active.empty()) h.push_back(out.previous_active);
      h.push_back(id.version);
      write_history(pack_dir, std::move(h));
      fsync_dir(pack_dir);
    }
  } catch (const store_error&) {
    throw;
  } catch (const std::exception& e) {
    refuse(std::string("pack store ") + dir_.string() + ": " + e.what());
  }
  return out;
}

std::vector<installed_pack> pack_store::list() const {
  std::vector<installed_pack> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  try {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (!entry.is_directory()) continue;
      const std::string name = entry.path().filename().string();
      if (!safe_component(name)) continue;
      installed_pack p;
      p.name = name;
      p.active = read_active(entry.path()).value_or("");
      for (const auto& v : fs::directory_iterator(entry.path())) {
        const std::string version = v.path().filename().string();
        if (!v.is_directory() || version.starts_with('.')) continue;
        if (!fs::exists(v.path() / std::string(pack_file_name))) continue;
        installed_version iv;
        iv.version = version;
        iv.signed_by = signer_of(v.path() / std::string(sig_file_name));
        iv.active = version == p.active;
        p.versions.push_back(std::move(iv));
      }
      std::sort(p.versions.begin(), p.versions.end(),
                [](const auto& a, const auto& b) { return a.version < b.version; });
      out.push_back(std::move(p));
    }
  } catch (const std::exception& e) {
    refuse(std::string("pack store ") + dir_.string() + ": " + e.what());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::string pack_store::rollback(const std::string& name) {
  if (!safe_component(name)) refuse("no pack named \"" + name + "\" in " + dir_.string());
  const fs::path pack_dir = dir_ / name;
  std::error_code ec;
  if (!fs::is_directory(pack_dir, ec)) refuse("no pack named \"" + name + "\" in " + dir_.string());
  try {
    const std::string current = read_active(pack_dir).value_or("");
    auto h = read_history(pack_dir);
    while (!h.empty() && h.back() == current) h.pop_back();
    // Skip versions removed by hand since they were active.
    while (!h.empty() && !fs::exists(pack_dir / h.back() / std::string(pack_file_name))) {
      h.pop_back();
    }
    if (h.empty()) {
      refuse(name + ": no earlier version to roll back to (active: " +
             (current.empty() ? std::string("none") : current) + ")");
    }
    const std::string target = h.back();
    activate(pack_dir, target);
    write_history(pack_dir, std::move(h));
    fsync_dir(pack_dir);
    return target;
  } catch (const store_error&) {
    throw;
  } catch (const std::exception& e) {
    refuse(std::string("pack store ") + dir_.string() + ": " + e.what());
  }
}

std::vector<pack_store::active_file> pack_store::active_files() const {
  std::vector<active_file> out;
  for (const auto& p : list()) {
    if (p.active.empty()) continue;
    const fs::path file = dir_ / p.name / p.active / std::string(pack_file_name);
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      refuse(p.name + ": the active version " + p.active + " is missing from " + dir_.string());
    }
    out.push_back({p.name, p.active, file});
  }
  return out;
}

}  // namespace imcap::signatures
