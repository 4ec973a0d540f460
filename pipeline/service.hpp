#pragma once
// The /imcap ICAP service: classification from the preview, decoding, scanning, policy,
// archive, and the reply the chat client understands (pipeline/README.md).
//
// Threads and ownership:
// - open(), on_preview() and on_body() run on the connection's I/O thread. Decoding, content
//   codings (bounded by policy.max_decoded_bytes) and Vectorscan scans run there: they are
//   CPU-bound and bounded. ClamAV runs on the clamav_scanner's pool, the archive commit on the
//   store's writer thread; their completions are posted back to the coroutine's executor, never
//   run inline on those threads.
// - The service shares one `core` (settings snapshot, session store, notice queues, counters)
//   with every exchange through a shared_ptr, so a transaction in flight keeps it alive.
// - reload() swaps the policy snapshot atomically; a transaction keeps the snapshot it started
//   with.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "archive/archive.hpp"
#include "icap/service.hpp"
#include "metrics/metrics.hpp"
#include "pipeline/settings.hpp"
#include "signatures/clamav_engine.hpp"
#include "signatures/service.hpp"

namespace imcap::pipeline {

// What the service uses from the other components. Any may be missing: no packs means no
// hits, no ClamAV means attachments are not virus-scanned, no archive means the archive stage
// fails (see policy.on_archive_error) unless policy.archive = "off".
struct dependencies {
  std::function<std::shared_ptr<const signatures::active_packs>()> packs;
  signatures::clamav_scanner* clamav = nullptr;  // outlives the service
  std::shared_ptr<archive::store> archive;
  archive::durability durability = archive::durability::strict;
  std::string archive_problem;  // why `archive` is null (logged, reported by OPTIONS)
  // The clock for notices and disclaimers (tests inject one). Default: system_clock.
  std::function<std::chrono::system_clock::time_point()> now;
};

// Counters, readable from any thread (relaxed).
struct pipeline_stats {
  // Answered from the preview, body unread: most traffic, counted on every transaction, so a
  // per-thread-cell counter (value()) rather than one contended atomic.
  metrics::counter not_chat;
  std::atomic<std::uint64_t> chat{0};      // transactions decoded
  std::atomic<std::uint64_t> events{0};    // events judged
  std::atomic<std::uint64_t> allowed{0}, warned{0}, modified{0}, blocked{0}, quarantined{0};
  std::atomic<std::uint64_t> notices_queued{0}, notices_injected{0};
  // Events policy would have blocked or quarantined that passed because a reviewer released
  // the same content from the same user (policy.release_pass_hours).
  std::atomic<std::uint64_t> released{0};
  std::atomic<std::uint64_t> decode_errors{0};
  std::atomic<std::uint64_t> scan_errors{0};
  std::atomic<std::uint64_t> archive_errors{0};
  std::atomic<std::uint64_t> archived{0};
  std::atomic<std::uint64_t> failed_open{0};    // a failing stage let a message through
  std::atomic<std::uint64_t> failed_closed{0};  // a failing stage blocked a message
};

struct core;

class imcap_service final : public icap::service {
 public:
  imcap_service(policy_settings settings, dependencies deps);
  ~imcap_service() override;

  const icap::service_info& info() const noexcept override { return info_; }
  std::unique_ptr<icap::exchange> open(const icap::transaction& tx) override;
  std::string unhealthy() const override;

  void reload(policy_settings settings);
  const pipeline_stats& stats() const noexcept;

 private:
  icap::service_info info_;
  std::shared_ptr<core> core_;
};

namespace detail {
// The redacted text: each byte span [first, second) of `text` replaced by policy.redact_mask
// (once per character, or once per span). Spans are widened to whole UTF-8 characters, so
// valid UTF-8 in gives valid UTF-8 out. Exposed for tests.
std::string masked_text(const policy_settings& p, std::string_view text,
                        std::vector<std::pair<std::size_t, std::size_t>> spans);
}  // namespace detail

}  // namespace imcap::pipeline
