#pragma once
// The Prometheus scrape endpoint: a small HTTP listener (libmicrohttpd, its own polling
// thread) that answers GET /metrics with registry::expose() as
// "text/plain; version=0.0.4; charset=utf-8". Any other path is 404, any other method on
// /metrics 405 (with Allow: GET, HEAD). HEAD is answered like GET without the body.
//
// Thread-safety: the listener thread reads the registry (which is safe against concurrent
// updates); construction and destruction happen on one control thread. The registry must
// outlive the exporter.

#include <cstdint>
#include <stdexcept>
#include <string>

#include "metrics/metrics.hpp"

struct MHD_Daemon;

namespace imcap::metrics {

class exporter_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class exporter {
 public:
  // Starts listening on host (numeric IPv4 or IPv6 address, no brackets) and port (0: a free
  // port, see port()). Throws exporter_error naming the address when it cannot listen.
  exporter(registry& r, const std::string& host, std::uint16_t port);
  // Stops the listener; a scrape in progress finishes first.
  ~exporter();
  exporter(const exporter&) = delete;
  exporter& operator=(const exporter&) = delete;

  // The bound port (the chosen one when constructed with port 0).
  std::uint16_t port() const noexcept { return port_; }
  // "host:port", or "[v6]:port".
  std::string address() const;

 private:
  registry& registry_;
  std::string host_;
  std::uint16_t port_ = 0;
  MHD_Daemon* daemon_ = nullptr;

  friend struct exporter_access;
};

}  // namespace imcap::metrics
