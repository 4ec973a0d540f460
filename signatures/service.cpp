#include "signatures/service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "signatures/store.hpp"

namespace imcap::signatures {

namespace fs = std::filesystem;

std::string clamav_database_fingerprint(const std::vector<fs::path>& dirs) {
  std::string text;
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(dir, ec)) {
      for (const auto& e : fs::directory_iterator(dir, ec)) files.push_back(e.path());
    } else {
      files.push_back(dir);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const auto size = fs::file_size(f, ec);
      const auto mtime = fs::last_write_time(f, ec).time_since_epoch().count();
      text += f.string() + ":" + std::to_string(ec ? 0 : size) + ":" + std::to_string(mtime) + ";";
    }
  }
  const std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(text.data()),
                                             text.size());
  return sha256_hex(bytes).substr(0, 16);
}

namespace {

void log_active(const active_packs& a) {
  if (a.identities.empty()) spdlog::info("no signature packs active");
  for (const auto& id : a.identities) {
    spdlog::info("signature pack {} {} active ({} rules, sha256 {})", id.name, id.version, id.rules,
                 id.sha256.substr(0, 16));
  }
}

}  // namespace

signature_service::signature_service(signatures_settings settings)
    : settings_(std::move(settings)) {
  auto first = load(settings_);
  log_active(*first);
  if (settings_.clamav_enabled) {
    clamav_ = std::make_unique<clamav_scanner>(settings_.clamav);
    const auto info = clamav_->info();
    spdlog::info("clamav: {} signatures from {} database location(s), {} scanning threads",
                 info.signatures, settings_.clamav.database_dirs.size(),
                 settings_.clamav.pool_threads);
  }
  active_.store(std::move(first));
}

signature_service::~signature_service() = default;

std::shared_ptr<const active_packs> signature_service::load(const signatures_settings& s) const {
  auto next = std::make_shared<active_packs>();
  std::vector<std::string> problems;
  pack_store store(s.store_dir);
  const auto files = store.active_files();  // throws store_error
  for (const auto& f : files) {
    // The daemon applies the signing policy too: a pack copied into the store by hand is held
    // to the same rule as one installed with imcapctl.
    const fs::path sig = signature_path_for(f.file);
    std::error_code ec;
    const bool has_sig = fs::exists(sig, ec);
    if (s.require_signed || (has_sig && !s.trusted_keys.empty())) {
      const verify_result v = verify_file(f.file, s.trusted_keys, sig);
      if (!v.ok()) {
        problems.push_back(f.name + " " + f.version + ": " + v.message);
        continue;
      }
    }
    try {
      auto pack = load_pack(f.file, compile_options{s.cache_dir});
      next->identities.push_back(identity_of(*pack));
      next->packs.push_back(std::move(pack));
    } catch (const pack_error& e) {
      for (const auto& p : e.problems()) problems.push_back(p);
    }
  }
  if (!problems.empty()) throw store_error(std::move(problems));
  // ClamAV settings are fixed for the process (see reload()): fingerprint the databases the
  // running engine loads, not the ones a changed configuration names.
  next->clamav_fingerprint = settings_.clamav_enabled
                                 ? clamav_database_fingerprint(settings_.clamav.database_dirs)
                                 : "off";
  std::string contribution = "clamav=" + next->clamav_fingerprint;
  for (const auto& id : next->identities) {
    contribution += ";" + id.name + "=" + id.version + ":" + id.sha256.substr(0, 16);
  }
  next->istag_contribution = std::move(contribution);
  return next;
}

std::string signature_service::reload(const signatures_settings& settings) {
  std::lock_guard one_at_a_time(reload_mutex_);
  auto next = load(settings);  // throws: nothing changes
  const auto current = active_.load();
  if (clamav_ && next->clamav_fingerprint != current->clamav_fingerprint) {
    clamav_->reload();  // throws clamav_error: nothing changes
  }
  const auto& a = settings_.clamav;
  const auto& b = settings.clamav;
  if (settings.clamav_enabled != settings_.clamav_enabled || a.database_dirs != b.database_dirs ||
      a.max_scan_size != b.max_scan_size || a.max_file_size != b.max_file_size ||
      a.max_recursion != b.max_recursion || a.max_files != b.max_files ||
      a.pool_threads != b.pool_threads || a.queue_capacity != b.queue_capacity ||
      a.timeout != b.timeout || a.fail_open != b.fail_open || a.temp_dir != b.temp_dir) {
    spdlog::warn("reload: ClamAV settings changed; restart imcapd to apply them");
  }
  settings_.store_dir = settings.store_dir;
  settings_.cache_dir = settings.cache_dir;
  settings_.require_signed = settings.require_signed;
  settings_.trusted_key_paths = settings.trusted_key_paths;
  settings_.trusted_keys = settings.trusted_keys;
  log_active(*next);
  std::string contribution = next->istag_contribution;
  active_.store(std::move(next));
  return contribution;
}

}  // namespace imcap::signatures
