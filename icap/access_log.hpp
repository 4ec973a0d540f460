#pragma once
// One line per ICAP transaction, plain (space-separated, Squid-like) or JSON, written through
// an spdlog asynchronous logger so the I/O threads never wait on the disk.
//
// The server formats lines on the I/O thread into a per-thread batch and hands the writer a
// batch at a time: waking the writer once per transaction cost more CPU than the transaction
// itself (a futex wake and a context switch each).
//
// Thread-safety: write()/write_batch() may be called from any thread; close() from one
// control thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "icap/config.hpp"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace imcap::icap {

struct access_record {
  std::uint64_t id = 0;           // transaction id
  std::string_view peer;          // the ICAP client (proxy) address
  std::string_view client_ip;     // X-Client-IP, "" if absent
  std::string_view user;          // proxy user, "" if absent
  std::string_view icap_method;   // OPTIONS, REQMOD, RESPMOD, or "-" when unparsed
  std::string_view service;       // URI path
  int status = 0;                 // ICAP status sent
  std::string_view http_method;   // encapsulated request method, "" if none
  std::string_view http_url;      // encapsulated request target, "" if none
  std::uint64_t bytes_in = 0;     // ICAP bytes received for this transaction
  std::uint64_t bytes_out = 0;    // ICAP bytes sent
  std::uint64_t duration_us = 0;  // from the first byte to the last byte sent
  std::string_view verdict;       // service verdict or error reason
  std::string_view app;           // chat app the service judged, "" if none
  std::string_view rules;         // rule ids that hit, comma-separated, "" if none
};

class access_log {
 public:
  // Opens the destination named by settings (file, "-" for stdout, "" for none).
  // Throws std::runtime_error naming the path when it cannot be opened.
  explicit access_log(const log_settings& settings);
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  void write(const access_record& r);
  // Hands over complete lines (each ending in a newline, as append_line() makes them), then
  // clears `lines`.
  void write_batch(std::string& lines);
  // Formats one line, timestamp first, ending in a newline, onto `out`.
  void append_line(std::string& out, const access_record& r) const;
  // Writes out everything queued and closes the file; later writes are dropped. Blocks until
  // the writer thread is done: call it from a control thread, never an I/O thread. The
  // destructor does the same.
  void close();
  bool enabled() const noexcept { return logger_ != nullptr; }
  const log_settings& settings() const noexcept { return settings_; }

 private:
  log_settings settings_;
  // Its own writer thread: destroying the pool drains the queue in order, so close() leaves
  // every accepted line on disk.
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
  icap::access_format format_;
};

// Formats one record without the timestamp (exposed for tests).
std::string format_access_record(const access_record& r, icap::access_format format);
void append_access_record(std::string& out, const access_record& r, icap::access_format format);

}  // namespace imcap::icap
