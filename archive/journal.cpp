// The strict-durability journal: record encoding, reading, and the appending writer.

#include "archive/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

namespace imcap::archive::journal {

namespace {

constexpr std::string_view file_magic = "IMCAPJ1\n";
constexpr std::uint32_t max_payload = 1u << 30;  // a larger length is corruption, not data

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

// Reads little-endian fields from a payload; any overrun sets ok = false.
struct reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t u(int bytes) {
    if (!ok || in.size() < static_cast<std::size_t>(bytes)) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
    in.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
  }
  std::string str() {
    const auto n = static_cast<std::size_t>(u(4));
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

std::uint32_t crc_of(std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  while (!payload.empty()) {
    const std::size_t n = std::min<std::size_t>(payload.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(n));
    payload.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(crc);
}

std::error_code last_error() { return {errno, std::generic_category()}; }

// "journal-<n>.log" -> n, or nullopt-like false.
bool file_number(const std::filesystem::path& p, std::uint64_t& n) {
  const std::string name = p.filename().string();
  constexpr std::string_view pre = "journal-", post = ".log";
  if (name.size() <= pre.size() + post.size() || name.compare(0, pre.size(), pre) != 0 ||
      name.compare(name.size() - post.size(), post.size(), post) != 0)
    return false;
  const char* b = name.data() + pre.size();
  const char* e = name.data() + name.size() - post.size();
  auto [ptr, ec] = std::from_chars(b, e, n);
  return ec == std::errc() && ptr == e;
}

void sync_dir(const std::filesystem::path& dir) {
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return;
  if (::fsync(d) != 0)
    spdlog::warn("archive: journal: fsync of {} failed: {}", dir.string(), last_error().message());
  ::close(d);
}

}  // namespace

void append_record(std::string& out, std::uint64_t id, std::string_view event,
                   std::string_view quarantine, const std::vector<prepared_content>& contents) {
  const std::size_t at = out.size();
  out.append(8, '\0');  // length and CRC, filled in below
  put_u64(out, id);
  put_str(out, event);
  put_str(out, quarantine);
  put_u32(out, static_cast<std::uint32_t>(contents.size()));
  for (const auto& c : contents) {
    put_str(out, c.sha_hex);
    put_u64(out, c.size);
    out += static_cast<char>(c.too_big ? 1 : 0);
    put_str(out, c.compressed);
  }
  const std::string_view payload = std::string_view(out).substr(at + 8);
  std::string head;
  put_u32(head, static_cast<std::uint32_t>(payload.size()));
  put_u32(head, crc_of(payload));
  out.replace(at, 8, head);
}

file_contents read_file(const std::filesystem::path& p) {
  file_contents fc;
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    fc.problem = "cannot read the file";
    return fc;
  }
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string_view in(all);
  if (in.size() < file_magic.size() || in.substr(0, file_magic.size()) != file_magic) {
    fc.problem = "not a journal file (bad header)";
    fc.dropped_bytes = in.size();
    return fc;
  }
  std::size_t off = file_magic.size();
  while (off < in.size()) {
    reader h{in.substr(off)};
    const auto len = static_cast<std::uint32_t>(h.u(4));
    const auto crc = static_cast<std::uint32_t>(h.u(4));
    auto stop = [&](const std::string& why) {
      fc.problem = "offset " + std::to_string(off) + ": " + why;
      // Up to the last non-zero byte: the zero-filled space after it was never written.
      const std::size_t end = in.find_last_not_of('\0');
      fc.dropped_bytes = end == std::string_view::npos || end < off ? 0 : end + 1 - off;
    };
    if (h.ok && len == 0) break;  // zero-filled space after the last record
    if (!h.ok || len > max_payload || h.in.size() < len) {
      stop("record cut short");
      break;
    }
    const std::string_view payload = h.in.substr(0, len);
    if (crc_of(payload) != crc) {
      stop("CRC mismatch");
      break;
    }
    reader r{payload};
    record rec;
    rec.id = r.u(8);
    rec.event = r.str();
    rec.quarantine = r.str();
    const auto n = r.u(4);
    for (std::uint64_t i = 0; r.ok && i < n; ++i) {
      prepared_content c;
      c.sha_hex = r.str();
      c.size = r.u(8);
      c.too_big = r.u(1) != 0;
      c.compressed = r.str();
      rec.contents.push_back(std::move(c));
    }
    if (!r.ok || !r.in.empty()) {
      stop("record does not decode");
      break;
    }
    fc.records.push_back(std::move(rec));
    off += 8 + len;
  }
  return fc;
}

std::vector<std::filesystem::path> unowned_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    std::uint64_t n = 0;
    if (file_number(de.path(), n)) files.push_back(de.path());
  }
  if (files.empty()) return files;
  std::sort(files.begin(), files.end());
  const auto lock_path = dir / "journal.lock";
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return files;
  const bool owned = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // also drops the shared lock, if it was taken
  if (owned) files.clear();
  return files;
}

std::unique_ptr<writer> writer::acquire(const std::filesystem::path& dir, io mode) {
  const auto lock_path = dir / "journal.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    throw std::system_error(last_error(), "cannot open " + lock_path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return nullptr;
    throw std::system_error(std::error_code(e, std::generic_category()),
                            "cannot lock " + lock_path.string());
  }
  return std::unique_ptr<writer>(new writer(dir, fd, mode));
}

void writer::aligned_free::operator()(char* p) const noexcept { std::free(p); }

writer::writer(std::filesystem::path dir, int lock_fd, io mode)
    : dir_(std::move(dir)), lock_fd_(lock_fd), direct_(mode == io::direct) {
  for (const auto& p : leftover()) {
    std::uint64_t n = 0;
    if (file_number(p, n)) number_ = std::max(number_, n);
  }
}

writer::~writer() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::vector<std::filesystem::path> writer::leftover() const {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(dir_, ec)) {
    std::uint64_t n = 0;
    if (de.path() != active_ && file_number(de.path(), n)) found.emplace_back(n, de.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> out;
  for (auto& [n, p] : found) out.push_back(std::move(p));
  return out;
}

void writer::remove(const std::vector<std::filesystem::path>& files) {
  for (const auto& p : files) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
    if (ec) spdlog::warn("archive: journal: cannot remove {}: {}", p.string(), ec.message());
  }
}

std::vector<std::filesystem::path> writer::all_files() const {
  std::vector<std::filesystem::path> out;
  {
    std::lock_guard lk(sealed_mutex_);
    for (const auto& s : sealed_) out.push_back(s.path);
  }
  if (!active_.empty()) out.push_back(active_);
  return out;
}

std::error_code writer::open_next() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    std::lock_guard lk(sealed_mutex_);
    sealed_.push_back({active_, active_last_id_});
  }
  after_failure_ = false;
  ++number_;
  active_ = dir_ / ("journal-" + std::to_string(number_) + ".log");
  auto ec = open_file();
  if (ec == std::errc::invalid_argument && direct_) {
    fall_back(ec);
    ec = open_file();
  }
  if (ec) return ec;
  sync_dir(dir_);  // the new name must survive a crash along with what is written to it
  return {};
}

// Creates the active file and writes its header durably: in direct mode as the first whole
// block (header, then zeros), so every later direct write starts on a block boundary.
std::error_code writer::open_file() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct_ ? O_DIRECT | O_DSYNC : 0);
  fd_ = ::open(active_.c_str(), flags, 0640);
  if (fd_ < 0) return last_error();
  offset_ = 0;
  allocated_ = 0;
  active_last_id_ = 0;
  tail_.clear();
  if (!zeros_) {  // block-aligned, so both modes write from it
    zeros_.reset(static_cast<char*>(std::aligned_alloc(block_bytes, prealloc_bytes)));
    if (!zeros_) return std::make_error_code(std::errc::not_enough_memory);
    std::memset(zeros_.get(), 0, prealloc_bytes);
  }
  std::error_code ec;
  if (direct_) {
    const std::size_t n = stage(file_magic);
    if (n == 0) return std::make_error_code(std::errc::not_enough_memory);
    ec = write_all(stage_.get(), n, 0);
    allocated_ = n;
  } else {
    ec = write_all(file_magic.data(), file_magic.size(), 0);
    if (!ec && ::fdatasync(fd_) != 0) ec = last_error();
    allocated_ = file_magic.size();
  }
  if (ec) return ec;
  offset_ = file_magic.size();
  if (direct_) tail_.assign(file_magic);
  return extend(prealloc_bytes);
}

// Zero-filled space ahead of the records, in steps of prealloc_bytes (so in direct mode whole
// blocks): appends then overwrite blocks the file already has, and their sync writes no size or
// block map (a zero length header marks the end of the records).
std::error_code writer::extend(std::uint64_t need) {
  if (need <= allocated_) return {};
  const std::uint64_t want = (need + prealloc_bytes - 1) / prealloc_bytes * prealloc_bytes;
  while (allocated_ < want) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(want - allocated_, prealloc_bytes));
    if (auto ec = write_all(zeros_.get(), n, allocated_)) return ec;
    allocated_ += n;
  }
  return {};
}

void writer::fall_back(const std::error_code& why) {
  direct_ = false;
  tail_.clear();
  spdlog::info("archive: journal: direct writes refused under {} ({}); using buffered writes and "
               "fdatasync", dir_.string(), why.message());
}

std::size_t writer::stage(std::string_view bytes) {
  const std::size_t used = tail_.size() + bytes.size();
  const std::size_t len = (used + block_bytes - 1) / block_bytes * block_bytes;
  if (len > stage_size_) {
    const std::size_t want = std::max(len, 2 * stage_size_);
    stage_.reset(static_cast<char*>(std::aligned_alloc(block_bytes, want)));
    stage_size_ = stage_ ? want : 0;
    if (!stage_) return 0;
  }
  std::memcpy(stage_.get(), tail_.data(), tail_.size());
  std::memcpy(stage_.get() + tail_.size(), bytes.data(), bytes.size());
  std::memset(stage_.get() + used, 0, len - used);
  return len;
}

std::error_code writer::write_all(const char* data, std::size_t len, std::uint64_t at) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pwrite(fd_, data + done, len - done, static_cast<off_t>(at + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code writer::append(std::string_view bytes, std::uint64_t last_id) {
  if (broken_) return std::make_error_code(std::errc::io_error);
  if (fd_ < 0 || offset_ >= rotate_bytes || after_failure_) {
    if (auto ec = open_next()) {
      spdlog::error("archive: journal: cannot start {}: {}", active_.string(), ec.message());
      return ec;
    }
  }
  std::error_code ec = extend(offset_ + bytes.size());
  if (ec) return ec;  // nothing of the batch written yet
  // Direct: the partly used block is written again together with the batch (its earlier bytes
  // unchanged, so a torn write leaves them as they were), zero-padded to whole blocks, and
  // O_DSYNC makes the write return only once it is durable. Buffered: write, then fdatasync.
  const std::uint64_t block_at = offset_ - tail_.size();
  if (direct_) {
    const std::size_t n = stage(bytes);
    ec = n == 0 ? std::make_error_code(std::errc::not_enough_memory)
                : write_all(stage_.get(), n, block_at);
  } else {
    ec = write_all(bytes.data(), bytes.size(), offset_);
    if (!ec && ::fdatasync(fd_) != 0) ec = last_error();
  }
  if (ec) {
    // Zero the batch's first header so that the file ends before it and the batch is never
    // applied: its events are answered with the error. The next batch goes to a new file, so no
    // record of this batch can show up again behind a shorter one written over it.
    std::error_code blank_ec;
    if (direct_) {
      const std::size_t n = stage({});
      blank_ec = n == 0 ? std::make_error_code(std::errc::not_enough_memory)
                        : write_all(stage_.get(), n, block_at);
    } else {
      blank_ec = write_all(zeros_.get(), 8, offset_);
      if (!blank_ec && ::fdatasync(fd_) != 0) blank_ec = last_error();
    }
    if (blank_ec) {
      broken_ = true;
      spdlog::error("archive: journal: {} cannot be ended before a failed write; nothing more "
                    "is journaled until restart", active_.string());
    }
    after_failure_ = true;
    return ec;
  }
  offset_ += bytes.size();
  if (direct_) {
    const std::size_t used = tail_.size() + bytes.size();
    const std::size_t keep = used % block_bytes;
    tail_.assign(stage_.get() + (used - keep), keep);
  }
  active_last_id_ = last_id;
  return {};
}

}  // namespace imcap::archive::journal
