#include "archive/lmdb.hpp"

#include <cerrno>

#include "archive/archive.hpp"

namespace imcap::archive::lmdb {

std::error_code translate(int rc) noexcept {
  switch (rc) {
    case 0:
      return {};
    case MDB_NOTFOUND:
      return errc::not_found;
    case MDB_MAP_FULL:
      return errc::map_full;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return errc::disk_full;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_VALSIZE:
      return errc::corrupt;
    case EACCES:
    case EROFS:
      return errc::read_only;
    default:
      return errc::io_error;
  }
}

std::string describe(int rc) {
  return mdb_strerror(rc);
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::uint64_t get_be64(std::string_view in) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string be64(std::uint64_t v) {
  std::string s;
  put_be64(s, v);
  return s;
}

env::~env() {
  if (e_ != nullptr) mdb_env_close(e_);
}

int env::create() {
  return mdb_env_create(&e_);
}

int txn::begin(MDB_env* e, bool read_only) {
  abort();
  rc_ = 0;
  return mdb_txn_begin(e, nullptr, read_only ? MDB_RDONLY : 0u, &t_);
}

bool txn::get(MDB_dbi dbi, std::string_view key, std::string_view& out) {
  if (rc_ != 0 || t_ == nullptr) return false;
  MDB_val k = val(key), v{};
  const int rc = mdb_get(t_, dbi, &k, &v);
  if (rc == 0) {
    out = view(v);
    return true;
  }
  if (rc != MDB_NOTFOUND) fail(rc);
  return false;
}

void txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  if (rc_ != 0 || t_ == nullptr) return;
  MDB_val k = val(key), v = val(value);
  fail(mdb_put(t_, dbi, &k, &v, flags));
}

void txn::del(MDB_dbi dbi, std::string_view key) {
  if (rc_ != 0 || t_ == nullptr) return;
  MDB_val k = val(key);
  const int rc = mdb_del(t_, dbi, &k, nullptr);
  if (rc != MDB_NOTFOUND) fail(rc);
}

int txn::commit() {
  if (t_ == nullptr) return rc_ != 0 ? rc_ : EINVAL;
  if (rc_ != 0) {
    abort();
    return rc_;
  }
  const int rc = mdb_txn_commit(t_);  // frees the txn even on failure
  t_ = nullptr;
  rc_ = rc;
  return rc;
}

void txn::abort() noexcept {
  if (t_ != nullptr) mdb_txn_abort(t_);
  t_ = nullptr;
}

cursor::cursor(txn& t, MDB_dbi dbi) : t_(t) {
  if (!t.ok() || t.get() == nullptr) return;
  const int rc = mdb_cursor_open(t.get(), dbi, &c_);
  if (rc != 0) {
    c_ = nullptr;
    t.fail(rc);
  }
}

cursor::~cursor() {
  if (c_ != nullptr) mdb_cursor_close(c_);
}

bool cursor::op(MDB_cursor_op o, std::string_view key) {
  if (c_ == nullptr || !t_.ok()) return false;
  if (o == MDB_SET_RANGE) k_ = val(key);
  const int rc = mdb_cursor_get(c_, &k_, &v_, o);
  if (rc == 0) return true;
  if (rc != MDB_NOTFOUND) t_.fail(rc);
  return false;
}

bool cursor::first() {
  return op(MDB_FIRST);
}
bool cursor::last() {
  return op(MDB_LAST);
}
bool cursor::next() {
  return op(MDB_NEXT);
}
bool cursor::prev() {
  return op(MDB_PREV);
}
bool cursor::seek(std::string_view key) {
  return op(MDB_SET_RANGE, key);
}

bool cursor::seek_before(std::string_view key) {
  if (seek(key)) return prev();
  if (!t_.ok()) return false;
  return last();
}

void cursor::del() {
  if (c_ == nullptr || !t_.ok()) return;
  t_.fail(mdb_cursor_del(c_, 0));
}

}  // namespace imcap::archive::lmdb
