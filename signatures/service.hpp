#pragma once
// What imcapd serves from signatures/: the active packs of the pack store, compiled, and the
// ClamAV scanner. imcapd builds one at start and calls reload() on SIGHUP (both on its blocking
// pool, never on an I/O thread).
//
// Threads: packs() and clamav() may be called from any thread at any time. The active set is an
// immutable snapshot behind std::atomic<std::shared_ptr<const ...>>: a scan that took a snapshot
// keeps it for its whole life, and reload() swaps in a new one only when every active pack
// loaded and compiled; otherwise it throws and the old snapshot stays. reload() calls are
// serialised internally.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "signatures/clamav_engine.hpp"
#include "signatures/engine.hpp"
#include "signatures/settings.hpp"

namespace imcap::signatures {

struct active_packs {
  std::vector<std::shared_ptr<const compiled_pack>> packs;  // sorted by pack name
  std::vector<pack_identity> identities;                    // same order
  std::string clamav_fingerprint;                           // of the database files loaded
  // Changes whenever a pack's bytes or the ClamAV database change; the ISTag folds it in.
  std::string istag_contribution;
};

class signature_service {
 public:
  // Loads every active pack and starts ClamAV (when enabled). Throws pack_error, store_error,
  // clamav_error: the daemon does not start with a pack it was told to serve and cannot load.
  explicit signature_service(signatures_settings settings);
  ~signature_service();

  // Re-reads the store with `settings` (store_dir, require_signed, trusted_keys, cache_dir may
  // change; ClamAV limits and pool sizes need a restart and are only warned about) and reloads
  // the ClamAV engine when its database files changed. All or nothing: on any failure throws
  // (what() lists every problem) and the running packs and engine stay. Returns the new
  // ISTag contribution.
  std::string reload(const signatures_settings& settings);

  std::shared_ptr<const active_packs> packs() const { return active_.load(); }
  clamav_scanner* clamav() noexcept { return clamav_.get(); }  // null when disabled

 private:
  std::shared_ptr<const active_packs> load(const signatures_settings& s) const;

  signatures_settings settings_;
  std::unique_ptr<clamav_scanner> clamav_;
  std::atomic<std::shared_ptr<const active_packs>> active_;
  std::mutex reload_mutex_;
};

// Fingerprint of ClamAV database files (names, sizes, modification times): cheap to compute on
// every SIGHUP, changes when freshclam or an admin replaces a database.
std::string clamav_database_fingerprint(const std::vector<std::filesystem::path>& dirs);

}  // namespace imcap::signatures
