#pragma once
// Process-wide counters, gauges and histograms, exposed in the Prometheus text format
// (version 0.0.4) by metrics::exporter on a small libmicrohttpd listener (default
// 127.0.0.1:9181, path /metrics).
//
// Any component may depend on metrics/ (it depends on nothing of imcap). Families are created
// once (at start-up, or lazily through the registry) and live as long as the registry; the
// returned references stay valid. Updating a series is lock-free (relaxed atomics) once the
// series exists; looking a labelled series up takes a shared lock, so hot paths keep the
// reference.
//
// Names follow Prometheus conventions: imcap_<what>_<unit>, counters end in _total.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace imcap::metrics {

namespace detail {

// Counters and histograms that every transaction touches are split into cells, each on its
// own cache line, one per thread slot: I/O threads on different cores then never pull the
// same line back and forth, which costs more than the count itself at 100 000 updates a
// second. Reads add the cells up (exact; relaxed, like any scrape racing an update).
inline constexpr std::size_t cells = 8;

// This thread's cell: threads take slots in turn as they first count something.
std::size_t assign_cell() noexcept;
inline std::size_t cell_index() noexcept {
  static thread_local const std::size_t i = assign_cell();
  return i;
}

struct alignas(64) line {
  std::atomic<std::uint64_t> v[8] = {};
};

}  // namespace detail

class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept {
    cells_[detail::cell_index()].v[0].fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& c : cells_) sum += c.v[0].load(std::memory_order_relaxed);
    return sum;
  }

 private:
  std::array<detail::line, detail::cells> cells_{};
};

class gauge {
 public:
  void set(std::int64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Fixed buckets (upper bounds, ascending, in the family's unit, e.g. seconds).
class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  struct snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  snapshot read() const;

 private:
  // Per cell: one counter per interval (bounds + the +Inf one), then the sum in millionths of
  // the unit, rounded up to whole cache lines (detail::line) so cells share no line.
  std::atomic<std::uint64_t>& slot(std::size_t cell, std::size_t i) const noexcept {
    const std::size_t at = cell * stride_ + i;
    return lines_[at / 8].v[at % 8];
  }

  std::vector<double> bounds_;
  std::size_t stride_ = 0;  // slots per cell, a multiple of 8
  std::unique_ptr<detail::line[]> lines_;
};

// Label values in the order of the family's label names.
using labels = std::vector<std::string>;

class registry {
 public:
  // The process-wide registry imcapd exports.
  static registry& global();

  // Families: the same name twice returns the same family (help and labels must match, else
  // std::logic_error: a programming error found at start-up).
  counter& counter_of(std::string_view name, std::string_view help,
                      std::initializer_list<std::string_view> label_names = {},
                      const labels& values = {});
  gauge& gauge_of(std::string_view name, std::string_view help,
                  std::initializer_list<std::string_view> label_names = {},
                  const labels& values = {});
  histogram& histogram_of(std::string_view name, std::string_view help, std::vector<double> bounds,
                          std::initializer_list<std::string_view> label_names = {},
                          const labels& values = {});

  // Prometheus text exposition of every family, label values escaped.
  std::string expose() const;

  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// Latency buckets in seconds suited to ICAP work (50 µs .. 5 s).
std::vector<double> latency_buckets();

}  // namespace imcap::metrics
