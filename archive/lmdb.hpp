#pragma once
// A small RAII layer over LMDB for the archive (internal to archive/).
//
// - env: one MDB_env, closed on destruction.
// - txn: one transaction with a sticky error: the first failing get/put/del records its MDB code,
//   later operations do nothing, and commit() reports it (aborting). Callers check once, at the
//   end, instead of after every call. An unfinished txn aborts on destruction.
// - cursor: positioned reads, with prefix iteration helpers.
// - translate(): the only place an MDB_* (or errno) code becomes an archive::errc.
// - Big-endian key codec so that integer keys sort numerically under LMDB's memcmp order.
//
// Threads: the env is opened MDB_NOTLS, so a read txn may be used by the thread that started it
// only but does not pin a reader slot to the thread. A write txn belongs to its thread.

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imcap::archive::lmdb {

// MDB_* and errno codes to archive::errc (MDB_MAP_FULL -> map_full, ENOSPC -> disk_full, ...).
std::error_code translate(int rc) noexcept;
// mdb_strerror, for logs and archive_error texts.
std::string describe(int rc);

inline MDB_val val(std::string_view s) noexcept {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view view(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// Big-endian integers.
void put_be64(std::string& out, std::uint64_t v);
std::uint64_t get_be64(std::string_view in) noexcept;  // first 8 bytes; in.size() >= 8
std::string be64(std::uint64_t v);

class env {
 public:
  env() = default;
  ~env();
  env(const env&) = delete;
  env& operator=(const env&) = delete;

  // Creates the handle; returns an MDB code (0 on success).
  int create();
  MDB_env* get() const noexcept { return e_; }

 private:
  MDB_env* e_ = nullptr;
};

class txn {
 public:
  txn() = default;
  ~txn() { abort(); }
  txn(txn&& o) noexcept : t_(o.t_), rc_(o.rc_) { o.t_ = nullptr; }
  txn& operator=(txn&&) = delete;
  txn(const txn&) = delete;

  // Returns the MDB code of mdb_txn_begin.
  int begin(MDB_env* e, bool read_only);

  // Reads: true and `out` set when found; false when absent or after an error (sticky).
  bool get(MDB_dbi dbi, std::string_view key, std::string_view& out);
  bool exists(MDB_dbi dbi, std::string_view key) {
    std::string_view ignored;
    return get(dbi, key, ignored);
  }
  void put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Deleting an absent key is not an error.
  void del(MDB_dbi dbi, std::string_view key);

  // Records `rc` as the transaction's error unless one is already recorded.
  void fail(int rc) noexcept {
    if (rc_ == 0) rc_ = rc;
  }
  int error() const noexcept { return rc_; }
  bool ok() const noexcept { return rc_ == 0; }

  // Commits when no error was recorded, else aborts; returns the recorded or commit MDB code.
  int commit();
  void abort() noexcept;
  MDB_txn* get() const noexcept { return t_; }
  bool active() const noexcept { return t_ != nullptr; }

 private:
  MDB_txn* t_ = nullptr;
  int rc_ = 0;
};

class cursor {
 public:
  cursor(txn& t, MDB_dbi dbi);
  ~cursor();
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;

  // Positioning; each returns true when the cursor is on an entry. MDB_NOTFOUND is "false",
  // any other failure is recorded in the txn and also yields false.
  bool first();
  bool last();
  bool next();
  bool prev();
  bool seek(std::string_view key);  // first entry >= key
  // Last entry < key (or the last entry of the DB when none is >= key).
  bool seek_before(std::string_view key);

  std::string_view key() const noexcept { return view(k_); }
  // Prefix iteration: the current key is `prefix` followed by exactly `suffix_size` bytes (the
  // archive's index keys are prefix || u64 id).
  bool at_prefix(std::string_view prefix, std::size_t suffix_size) const noexcept {
    const auto k = key();
    return k.size() == prefix.size() + suffix_size && k.substr(0, prefix.size()) == prefix;
  }
  std::string_view value() const noexcept { return view(v_); }
  // Deletes the current entry.
  void del();

 private:
  bool op(MDB_cursor_op o, std::string_view key = {});
  txn& t_;
  MDB_cursor* c_ = nullptr;
  MDB_val k_{}, v_{};
};

}  // namespace imcap::archive::lmdb
