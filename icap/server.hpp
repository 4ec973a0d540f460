#pragma once
// The ICAP server: listeners, one coroutine per connection, services by URI path.
//
// Threads: `config.threads` I/O threads, each running its own io_context; a connection lives
// on one of them for its whole life, so its coroutine needs no strand. Blocking work runs on
// blocking_executor(), never on an I/O thread.
//
// Lifetime: construct, add_service(), listen(), start(); reload() any time after start();
// stop() drains and joins. The server must outlive every call into it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "icap/access_log.hpp"
#include "icap/config.hpp"
#include "icap/service.hpp"

namespace imcap::icap {

// Counters, readable from any thread.
struct server_stats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_rejected{0};  // over max_connections: 503
  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> errors{0};  // 4xx/5xx sent, or connection failed mid-transaction
  std::atomic<std::uint32_t> connections_active{0};
};

class server {
 public:
  explicit server(config cfg);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Registers a service at "/" + info().name. Before start() only.
  void add_service(std::shared_ptr<service> s);

  // Binds every configured address. Throws std::system_error naming the address.
  // Returns the bound endpoints (with the real port when the config said 0).
  std::vector<boost::asio::ip::tcp::endpoint> listen();

  // Starts the I/O threads and begins accepting.
  void start();

  // Applies a new configuration to new transactions: timeouts, limits, preview, TTL,
  // Max-Connections, identity, logging. Listen addresses and thread counts need a restart
  // (a warning is logged when they differ). The ISTag changes.
  void reload(config cfg);

  // Stops accepting, closes idle connections, lets in-flight transactions finish for up to
  // drain_timeout, then closes the rest and joins the threads. Returns the number of
  // connections that had to be cut. Idempotent.
  std::size_t stop();

  const server_stats& stats() const noexcept;
  // Folds `contribution` (a short text from another component, e.g. the identities of the
  // active signature packs) into the ISTag. A different contribution changes the ISTag, so
  // proxies drop cached OPTIONS answers; the same one changes nothing. Any thread.
  void set_istag_contribution(std::string contribution);

  std::string istag() const;  // the current ISTag, quoted
  boost::asio::any_io_executor blocking_executor();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace imcap::icap
