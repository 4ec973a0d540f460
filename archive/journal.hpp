#pragma once
// The strict-durability journal (internal to archive/; archive/README.md, "Durability").
//
// Under durability = "strict" an event must be on disk before the ICAP reply that depends on it.
// An LMDB commit costs two syncs over a dozen scattered pages (data, then meta); appending the
// batch to a sequential file costs one short sync. So the writer thread appends each batch here,
// syncs, acknowledges, and an applier thread commits the same events to LMDB behind it. At open,
// records that LMDB does not hold yet (id >= its next event id) are applied, so an event
// acknowledged before a crash is in the archive once any read-write process opens it again.
//
// Files: <archive>/journal.lock (flock: one process owns the journal) and journal-<n>.log, each an
// 8-byte header then records: u32 payload length, u32 CRC-32 of the payload (both little
// endian), payload, and zero-filled space after the last record (a zero length ends the file).
// Payload: u64 event id, the event's canonical bytes (codec::encode_event),
// its initial quarantine state and its prepared attachment contents, each string as a u32
// length and the bytes. A record cut short or failing its CRC ends the file: it was never
// acknowledged (the sync did not return).
//
// Threads: append() and rotation on the writer thread; release() on the applier thread; the
// list of sealed files is guarded inside.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imcap::archive::journal {

// Attachment bytes as store::submit() prepared them (hashed and zstd-compressed off the writer).
struct prepared_content {
  std::string sha_hex;
  std::string sha_raw;
  std::uint64_t size = 0;
  std::string compressed;  // empty when too_big
  bool too_big = false;
};

// One journaled event.
struct record {
  std::uint64_t id = 0;
  std::string event;  // codec::encode_event bytes, id included
  std::string quarantine;
  std::vector<prepared_content> contents;
};

// Appends one encoded record (header and payload) to `out`.
void append_record(std::string& out, std::uint64_t id, std::string_view event,
                   std::string_view quarantine, const std::vector<prepared_content>& contents);

struct file_contents {
  std::vector<record> records;
  std::string problem;  // "" or why reading stopped early ("offset 123: CRC mismatch, ...")
  std::uint64_t dropped_bytes = 0;
};
// Reads one journal file; never throws for bad content (a bad header is a problem too).
file_contents read_file(const std::filesystem::path& p);

// Journal files in `dir` that no process owns (nobody holds the lock): events acknowledged by a
// process that stopped before applying them, which a read-only view of LMDB lacks. Empty when
// the owner runs or there are none. Creates nothing.
std::vector<std::filesystem::path> unowned_files(const std::filesystem::path& dir);

class writer {
 public:
  // Takes the journal lock of `dir` without waiting. nullptr when another process holds it
  // (that process applies and owns the journal); throws std::system_error on other failures.
  //
  // How appends reach the disk: `direct` writes each batch with O_DIRECT | O_DSYNC (one system
  // call that returns once the blocks are on stable storage: on a virtual disk measured at 158
  // against 180 us wall and 28 against 45 us of CPU for buffered write plus fdatasync), falling
  // back to `buffered` by itself when the file system refuses O_DIRECT; `buffered` writes through
  // the page cache and calls fdatasync. Tests pick either to cover both.
  enum class io { direct, buffered };
  static std::unique_ptr<writer> acquire(const std::filesystem::path& dir, io mode = io::direct);
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // Journal files left by an earlier process, in the order they were written.
  std::vector<std::filesystem::path> leftover() const;
  // Deletes the given files (after their records are durably in LMDB).
  void remove(const std::vector<std::filesystem::path>& files);

  // Appends the encoded records of one batch whose highest id is `last_id` and syncs. Opens the
  // first file (after every leftover one) on first use and a new one after `rotate_bytes`. On an
  // error the batch's first header is zeroed (the file ends before it) and the next append starts
  // a new file, so a failed batch never reaches LMDB; if even that fails, every later append
  // fails too.
  std::error_code append(std::string_view bytes, std::uint64_t last_id);

  // Files that were full and whose records all have ids below `applied_next` are deleted;
  // `make_durable` runs first (it must make LMDB's commits so far durable) when any is.
  template <class F>
  void release(std::uint64_t applied_next, F&& make_durable) {
    std::vector<std::filesystem::path> done;
    {
      std::lock_guard lk(sealed_mutex_);
      while (!sealed_.empty() && sealed_.front().last_id < applied_next) {
        done.push_back(sealed_.front().path);
        sealed_.erase(sealed_.begin());
      }
    }
    if (done.empty()) return;
    make_durable();
    remove(done);
  }
  // The active file and every sealed one (close: all of it is applied and durable).
  std::vector<std::filesystem::path> all_files() const;

  static constexpr std::uint64_t rotate_bytes = 64ull << 20;
  static constexpr std::uint64_t prealloc_bytes = 1ull << 20;
  // Direct writes cover whole blocks of this size (a multiple of every logical block size in use).
  static constexpr std::size_t block_bytes = 4096;

  // Whether appends currently go through O_DIRECT (false after a fallback).
  bool direct() const { return direct_; }

 private:
  explicit writer(std::filesystem::path dir, int lock_fd, io mode);
  std::error_code open_next();
  std::error_code open_file();
  std::error_code extend(std::uint64_t need);
  // Writes `len` bytes from `data` at offset `at`, retrying short writes and EINTR. In direct
  // mode `data` is block-aligned and `len` a multiple of block_bytes (stage_ or zeros_).
  std::error_code write_all(const char* data, std::size_t len, std::uint64_t at);
  // Direct mode: puts tail_ + bytes, zero-padded to whole blocks, into stage_; returns the length.
  std::size_t stage(std::string_view bytes);
  void fall_back(const std::error_code& why);

  struct aligned_free {
    void operator()(char* p) const noexcept;
  };
  using aligned_ptr = std::unique_ptr<char, aligned_free>;

  struct sealed_file {
    std::filesystem::path path;
    std::uint64_t last_id = 0;
  };
  std::filesystem::path dir_;
  int lock_fd_ = -1;
  int fd_ = -1;
  std::uint64_t number_ = 0;  // of the active (or next) file
  std::uint64_t offset_ = 0;     // where the next record goes
  std::uint64_t allocated_ = 0;  // file length: zero-filled from offset_ on
  std::uint64_t active_last_id_ = 0;
  std::filesystem::path active_;
  bool broken_ = false;
  bool after_failure_ = false;  // the last append failed: the next one starts a new file
  bool direct_ = true;
  // Direct mode: the bytes of the partly used block that offset_ falls in (rewritten, unchanged,
  // with the next batch) and a block-aligned staging buffer. Both modes: prealloc_bytes of
  // zeros, block-aligned.
  std::string tail_;
  aligned_ptr stage_;
  std::size_t stage_size_ = 0;
  aligned_ptr zeros_;
  mutable std::mutex sealed_mutex_;
  std::vector<sealed_file> sealed_;
};

}  // namespace imcap::archive::journal
