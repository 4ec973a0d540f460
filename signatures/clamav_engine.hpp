#pragma once
// ClamAV inside imcap: one libclamav engine per process, shared by every scanning thread, and a
// bounded pool that runs the scans.
//
// Ownership and threads:
// - clamav_scanner owns the pool threads and the current engine. The engine is an immutable
//   `std::shared_ptr<const engine>` held in an std::atomic; each scan takes its own reference
//   when it starts, so reload() can swap in a new engine while scans run: in-flight scans finish
//   on the old one, which is freed when the last of them drops it.
// - scan_async() never blocks and never runs libclamav on the caller's thread (so it is safe on
//   an I/O thread). The bytes are read by a pool thread after scan_async() returns: the caller
//   keeps them alive through scan_input::owner (a shared_ptr the scanner holds until the scan
//   has finished, even when the caller was already answered by the timeout).
// - The completion runs exactly once: on a pool thread (scan finished), on the timer thread
//   (deadline passed) or on the caller's thread (queue full, scanner stopped). It must not block.
// - reload() blocks for as long as loading the databases takes (seconds for the full freshclam
//   set): call it from a blocking pool, never from an I/O thread.
//
// Fail policy: a scan that cannot give an answer (queue full, timeout, libclamav error) returns
// status `error` with a reason; `pass` then follows settings.fail_open, and both are counted.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace imcap::signatures {

// Configuration or database problems (start-up, reload). what() names the directory/file.
class clamav_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct clamav_settings {
  // Signature database directories (or single database files), loaded in order.
  std::vector<std::filesystem::path> database_dirs;
  std::uint64_t max_scan_size = 100ull << 20;  // CL_ENGINE_MAX_SCANSIZE: bytes scanned per object
  std::uint64_t max_file_size = 25ull << 20;   // CL_ENGINE_MAX_FILESIZE: larger files skipped
  std::uint32_t max_recursion = 16;            // CL_ENGINE_MAX_RECURSION: archive nesting
  std::uint32_t max_files = 10000;             // CL_ENGINE_MAX_FILES: members per archive
  std::size_t pool_threads = 2;                // scanning threads
  std::size_t queue_capacity = 64;             // scans waiting for a thread; beyond: queue full
  std::chrono::milliseconds timeout{30000};    // submission to answer; also the engine's scantime
  bool fail_open = false;                      // what an unanswered scan does: pass or block
  std::filesystem::path temp_dir;              // CL_ENGINE_TMPDIR; empty: libclamav's default
};

// Translates a libclamav return code (cl_error_t) to text. The only place CL_* codes become
// words in imcap.
std::string clamav_error_text(int code);

struct clamav_input {
  std::span<const unsigned char> bytes;
  std::shared_ptr<const void> owner;  // keeps `bytes` alive until the scan has finished
  std::string name;                   // attachment name, for libclamav's type detection and logs
};

enum class clamav_status {
  clean,     // no signature matched: pass
  infected,  // a signature matched: `viruses` names it; block
  error,     // no answer (queue full, timeout, engine error, stopped): `reason`; `pass` per policy
};

struct clamav_result {
  clamav_status status = clamav_status::error;
  std::vector<std::string> viruses;     // with all-matches off, one name when infected
  std::string reason;                   // error only
  bool pass = false;                    // what the caller does with the attachment
  std::uint64_t engine_generation = 0;  // which engine answered (0: none)
};

struct clamav_counters {
  std::uint64_t scans = 0;  // results delivered
  std::uint64_t clean = 0;
  std::uint64_t infected = 0;
  std::uint64_t errors = 0;         // all error results, including the three below
  std::uint64_t timeouts = 0;       // answered by the deadline before the scan finished
  std::uint64_t queue_full = 0;     // refused because the queue was full
  std::uint64_t engine_errors = 0;  // libclamav returned an error code
  std::uint64_t failed_open = 0;    // error results passed (fail_open)
  std::uint64_t failed_closed = 0;  // error results blocked (fail_closed)
  std::uint64_t reloads = 0;        // successful reloads
  std::uint64_t reload_failures = 0;
};

struct clamav_engine_info {
  std::uint64_t generation = 0;  // 1 for the first engine, +1 per successful reload
  unsigned signatures = 0;       // signatures loaded
  std::string identity;          // short text for ISTag/logs: "g<gen>-<signatures>"
};

class clamav_scanner {
 public:
  // Loads the databases and starts the pool. Throws clamav_error (bad settings, a directory
  // that cannot be loaded, no signatures at all).
  explicit clamav_scanner(clamav_settings settings);
  ~clamav_scanner();  // stops the pool: queued scans are answered `error` ("scanner stopped")
  clamav_scanner(const clamav_scanner&) = delete;
  clamav_scanner& operator=(const clamav_scanner&) = delete;

  using completion = std::function<void(clamav_result)>;
  void scan_async(clamav_input input, completion done);

  // Convenience for blocking callers (CLI, tests, benchmarks): scan_async and wait.
  clamav_result scan(clamav_input input);

  // Builds a new engine from the configured databases and swaps it in. Throws clamav_error and
  // keeps the current engine when the new one cannot be built.
  clamav_engine_info reload();

  clamav_engine_info info() const;
  clamav_counters counters() const;
  const clamav_settings& settings() const noexcept { return settings_; }

  struct engine;  // libclamav engine + identity (clamav_engine.cpp)

 private:
  struct impl;
  clamav_settings settings_;
  std::unique_ptr<impl> impl_;
};

// libclamav directly, without imcap's pool: for the benchmark's reference and for tests that
// compare. Scans `bytes` with the same options clamav_scanner uses.
class clamav_direct {
 public:
  explicit clamav_direct(const clamav_settings& settings);
  ~clamav_direct();
  clamav_direct(const clamav_direct&) = delete;
  clamav_direct& operator=(const clamav_direct&) = delete;
  // Returns the raw cl_error_t and sets `virus` when infected.
  int scan(std::span<const unsigned char> bytes, std::string& virus) const;

 private:
  std::shared_ptr<const clamav_scanner::engine> engine_;
};

}  // namespace imcap::signatures
