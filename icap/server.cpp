#include "icap/server.hpp"

// Ownership across async boundaries:
// - A connection is owned by its own coroutine (a shared_ptr held in the coroutine frame) and
//   runs on exactly one io_context, which only one thread runs: no strand is needed.
// - The read buffer belongs to the connection. Body pieces handed to services and to writes
//   are views into it, valid until the next read; nothing keeps them past that.
// - Each transaction takes one snapshot of the runtime settings (config + ISTag + access log)
//   and uses it to the end, so a reload never changes a transaction half-way.
// - The server's registry holds raw connection pointers under a mutex, only to post drain
//   notices; a connection removes itself in its destructor, under the same mutex.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/thread_name.hpp"
#include "icap/parser.hpp"
#include "icap/serializer.hpp"
#include "imcap_version.hpp"
#include "metrics/metrics.hpp"

namespace imcap::icap {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

struct runtime {
  config cfg;
  std::string istag;
  std::shared_ptr<access_log> log;
};

std::string make_istag(std::uint64_t boot, const std::string& contribution,
                       std::uint64_t generation) {
  // Quoted, at most 32 bytes: "IMCAP-" + 8 hex digits of the start time + "-" + 6 hex digits
  // of the contribution's hash + "-" + generation.
  const auto folded = static_cast<unsigned long long>(std::hash<std::string>{}(contribution));
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"IMCAP-%08llx-%06llx-%llu\"",
                static_cast<unsigned long long>(boot & 0xffffffffULL), folded & 0xffffffULL,
                static_cast<unsigned long long>(generation % 100000000ULL));
  return buf;
}

class connection;

}  // namespace

struct server::impl {
  explicit impl(config c) : boot(std::move(c)), blocking(boot.blocking_threads) {}

  // Declaration order is destruction order in reverse: the io_contexts (and any coroutine
  // frames they still hold) go before the mutex and registry those frames touch.
  config boot;    // listen addresses and thread counts, fixed for the process
  std::mutex mu;  // guards conns, generation, started, stopped
  std::condition_variable cv;
  std::unordered_set<connection*> conns;
  bool started = false;
  bool stopped = false;
  std::uint64_t boot_time = 0;
  std::uint64_t generation = 0;
  std::string contribution;  // guarded by mu
  server_stats stats;
  std::atomic<std::uint64_t> next_tx{1};
  std::atomic<std::size_t> next_ioc{0};
  std::atomic<bool> draining{false};
  std::map<std::string, std::shared_ptr<service>, std::less<>> services;
  std::atomic<std::shared_ptr<const runtime>> rt;
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  // Access-log lines waiting to be handed to the writer, one batch per I/O thread (index as
  // in iocs), touched only by that thread, and by stop() once the threads are joined.
  struct log_batch {
    std::string text;
    std::shared_ptr<access_log> owner;
  };
  std::vector<log_batch> batches;

  void install(config c) {
    auto r = std::make_shared<runtime>();
    // Keep the open access log when its settings did not change (the usual reload).
    auto old = rt.load();
    if (old && old->log->settings() == c.log)
      r->log = old->log;
    else
      r->log = std::make_shared<access_log>(c.log);
    r->cfg = std::move(c);
    // Under mu, so a concurrent set_contribution() copies either this runtime or the one
    // before it, never loses it.
    std::lock_guard lock(mu);
    r->istag = make_istag(boot_time, contribution, ++generation);
    rt.store(std::move(r));
  }

  // Same settings and access log, new ISTag. False when the contribution did not change.
  bool set_contribution(std::string text) {
    std::lock_guard lock(mu);
    if (text == contribution) return false;
    contribution = std::move(text);
    auto r = std::make_shared<runtime>(*rt.load());
    r->istag = make_istag(boot_time, contribution, ++generation);
    rt.store(std::move(r));
    return true;
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  asio::awaitable<void> flush_loop(std::size_t index);

  // Appends one access-log line to this thread's batch; hands full batches to the writer.
  void log_line(std::size_t index, const std::shared_ptr<access_log>& log, const access_record& r) {
    auto& b = batches[index];
    if (b.owner != log) {
      if (b.owner) b.owner->write_batch(b.text);
      b.owner = log;
    }
    if (!log->enabled()) return;
    log->append_line(b.text, r);
    if (b.text.size() >= 32 * 1024) log->write_batch(b.text);
  }
};

namespace {

// What the connection loop does after a transaction.
enum class after { keep_alive, close };

// Where the encapsulated body stands when a service reply is acted on.
enum class body_stage {
  complete,       // every body byte is in hand (no body, ieof, or fully read)
  after_preview,  // preview read without ieof; the rest comes only after 100 Continue
  pending,        // not read yet and the client is sending it (no preview, or after 100)
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(server::impl& srv, std::size_t index, tcp::socket socket, bool overloaded)
      : srv_(srv),
        index_(index),
        socket_(std::move(socket)),
        watchdog_(socket_.get_executor()),
        overloaded_(overloaded) {
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    buf_.resize(small_buffer);
  }

  ~connection() {
    std::lock_guard lock(srv_.mu);
    srv_.conns.erase(this);
    if (!overloaded_) srv_.stats.connections_active--;
    srv_.cv.notify_all();
  }

  // Called with srv_.mu held, from any thread: asks the connection, on its own thread, to
  // close if it sits between transactions (or at once when `force`).
  void post_drain(bool force) {
    asio::post(socket_.get_executor(), [w = weak_from_this(), force] {
      auto c = w.lock();
      if (!c) return;
      error_code ec;
      // A request that already arrived but was not read yet is served, not cut: the
      // connection closes after it, when its loop sees the drain flag.
      if (!force && c->idle_ && c->socket_.available(ec) > 0) return;
      if (c->idle_ || force) {
        spdlog::debug("connection {}: closed for shutdown ({})", c->peer_,
                      force ? "drain deadline" : "idle");
        c->socket_.close(ec);
      }
    });
  }

  // `self` keeps the connection alive for the coroutine's life; it is bound when the
  // coroutine is created, before it first runs.
  asio::awaitable<void> run(std::shared_ptr<connection> self) {
    {
      std::lock_guard lock(srv_.mu);
      srv_.conns.insert(this);
    }
    // The watchdog gets its own reference now, not when it first runs: by then this
    // connection may already be gone.
    asio::co_spawn(socket_.get_executor(), watchdog(self), asio::detached);
    // The snapshot is refreshed by mark_started() when each transaction's first byte arrives;
    // this one only covers waiting for the first transaction.
    rt_ = srv_.rt.load();
    parser_.set_limits(rt_->cfg.limits);
    if (overloaded_) {
      co_await reject_overloaded();
      error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      co_await linger();
      stop_watchdog();
      co_return;
    }
    while (!srv_.draining.load()) {
      parser_.reset();
      begin_tx();
      after next = after::close;
      bool failed = false;
      try {
        next = co_await serve();
      } catch (const std::exception& e) {
        // A bug, not bad input: the parser and services report bad input as values.
        spdlog::error("connection {}: internal error: {}", peer_, e.what());
        failed = true;
      }
      if (failed && !response_started_) {
        std::string why = "internal error";
        co_await send_error(500, std::move(why), true);
      }
      end_tx();
      last_status_ = tx_status_;
      if (next == after::close) break;
    }
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (last_status_ >= 400) co_await linger();
    stop_watchdog();
    socket_.close(ec);
  }

 private:
  // ---- transaction bookkeeping ------------------------------------------------------------

  struct tx_series {
    std::string service;
    std::string method;
    int status = 0;
    metrics::counter* count = nullptr;
    metrics::histogram* latency = nullptr;
  };
  tx_series metrics_;

  void begin_tx() {
    tx_status_ = 0;
    tx_bytes_out_ = 0;
    tx_verdict_.clear();
    tx_app_.clear();
    tx_rules_.clear();
    tx_started_ = false;
    response_started_ = false;
    identity_ = client_identity{};
  }

  void mark_started() {
    if (tx_started_) return;
    tx_started_ = true;
    idle_ = false;
    // Settings are taken when the transaction's first byte arrives, so a connection that sat
    // idle through a reload serves its next request with the new ones.
    rt_ = srv_.rt.load();
    parser_.set_limits(rt_->cfg.limits);
    tx_start_ = std::chrono::steady_clock::now();
    tx_id_ = srv_.next_tx++;
  }

  void end_tx() {
    idle_ = true;
    if (!tx_started_ || tx_status_ == 0) return;
    srv_.stats.transactions++;
    if (tx_status_ >= 400) srv_.stats.errors++;
    const auto& req = parser_.request();
    access_record r;
    r.id = tx_id_;
    r.peer = peer_;
    r.client_ip = identity_.client_ip;
    r.user = identity_.user;
    bool have_head = !req.uri.empty();
    r.icap_method = have_head ? to_string(req.method) : std::string_view("-");
    r.service = req.service;
    r.status = tx_status_;
    if (req.http_request) {
      r.http_method = req.http_request->request_method();
      r.http_url = req.http_request->request_target();
    }
    r.bytes_in = parser_.wire_bytes();
    r.bytes_out = tx_bytes_out_;
    r.duration_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - tx_start_)
                                       .count());
    r.verdict = tx_verdict_;
    r.app = tx_app_;
    r.rules = tx_rules_;
    count_tx(r);  // before the log line: a test that sees the line sees the count
    srv_.log_line(index_, rt_->log, r);
  }

  // Prometheus series (metrics/): transactions by service, method and status, and latency by
  // service and method. A service the server does not have is counted as "other", so a client
  // cannot grow the label set. Looking a series up takes a lock and a map search; a connection
  // mostly repeats one service/method/status, so it keeps the last series it used.
  void count_tx(const access_record& r) {
    const std::string_view service =
        srv_.services.contains(r.service) ? r.service : std::string_view("other");
    auto& m = metrics_;
    if (m.count == nullptr || m.status != r.status || m.service != service ||
        m.method != r.icap_method) {
      auto& reg = metrics::registry::global();
      m.service = service;
      m.method = r.icap_method;
      m.status = r.status;
      m.count = &reg.counter_of("imcap_icap_transactions_total",
                                "ICAP transactions answered, by service, method and status",
                                {"service", "method", "status"},
                                {m.service, m.method, std::to_string(r.status)});
      m.latency = &reg.histogram_of(
          "imcap_icap_transaction_duration_seconds",
          "Time from a transaction's first byte to its last byte sent, in seconds",
          metrics::latency_buckets(), {"service", "method"}, {m.service, m.method});
    }
    m.count->inc();
    m.latency->observe(static_cast<double>(r.duration_us) / 1e6);
  }

  response_meta meta(bool close = false) const { return {rt_->istag, close, {}}; }

  // ---- I/O ---------------------------------------------------------------------------------

  // Timeouts: every read and write sets deadline_; one timer per connection watches it and,
  // once it passes, cancels the pending operation (the socket stays open, so a 408 can still
  // be sent). Moving the deadline later costs nothing; only an earlier deadline re-arms.
  void set_deadline(std::chrono::seconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (deadline_ < armed_) watchdog_.cancel();
  }

  asio::awaitable<void> watchdog(std::shared_ptr<connection> self) {
    (void)self;  // keeps this connection alive while the timer may still fire
    while (!closed_) {
      armed_ = deadline_;
      watchdog_.expires_at(armed_);
      co_await watchdog_.async_wait(use_tuple);
      if (closed_) break;
      if (std::chrono::steady_clock::now() >= deadline_) {
        timed_out_ = true;
        deadline_ = never;
        error_code ec;
        socket_.cancel(ec);
      }
    }
  }

  void stop_watchdog() {
    closed_ = true;
    watchdog_.cancel();
  }

  // Mid-message, the client may be holding its next segment until it sees our ACK (Nagle's
  // algorithm: Squid writes the ICAP head and the body separately), while the kernel delays
  // that ACK by up to 40 ms hoping to piggyback it on a response we cannot send yet. Ask for
  // the ACK at once. Linux resets quick-ACK mode by itself, so this is per read.
  void ack_now() {
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }

  // Maps a cancelled operation to a timeout when the watchdog cancelled it.
  error_code timeout_aware(error_code ec) {
    if (ec == asio::error::operation_aborted && timed_out_) {
      timed_out_ = false;
      return asio::error::timed_out;
    }
    return ec;
  }

  // Parses what is buffered. Body views in the result stay valid until the next read_more().
  parse_result parse() {
    auto r = parser_.parse(std::string_view(buf_.data() + begin_, end_ - begin_));
    begin_ += r.consumed;
    return r;
  }

  asio::awaitable<error_code> read_more(std::chrono::seconds timeout) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);  // never hit: parse() drains input
    if (tx_started_) ack_now();
    set_deadline(timeout);
    timed_out_ = false;
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(buf_.data() + end_, buf_.size() - end_), use_tuple);
    end_ += n;
    co_return timeout_aware(ec);
  }

  template <class Buffers>
  asio::awaitable<bool> write_buffers(const Buffers& buffers) {
    response_started_ = true;
    set_deadline(rt_->cfg.write_timeout);
    timed_out_ = false;
    auto [ec, n] = co_await asio::async_write(socket_, buffers, use_tuple);
    ec = timeout_aware(ec);
    tx_bytes_out_ += n;
    if (ec) {
      spdlog::info("connection {}: write failed: {}", peer_, ec.message());
      co_return false;
    }
    co_return true;
  }

  // Takes the bytes by value: they live in this coroutine's frame until written. (GCC 12
  // mishandles temporaries that must outlive a co_await in the caller's full-expression, so
  // callers build a named string or move one in.)
  asio::awaitable<bool> write(std::string s) { co_return co_await write_buffers(asio::buffer(s)); }

  // Reads until the head is complete. Returns false when the transaction is over (the
  // connection closed or went idle for too long, or an error was answered).
  asio::awaitable<bool> read_head() {
    idle_ = begin_ == end_;
    if (!idle_) mark_started();
    while (true) {
      auto r = parse();
      if (r.consumed > 0) mark_started();
      if (r.status == parse_status::head_done) co_return true;
      if (r.status == parse_status::error) {
        mark_started();
        auto e = parser_.error();
        std::string why(error_reason(e));
        co_await send_error(error_status(e), std::move(why), true);
        co_return false;
      }
      bool first = !tx_started_;
      auto ec = co_await read_more(first ? rt_->cfg.idle_timeout : rt_->cfg.read_timeout);
      if (ec) {
        if (first) co_return false;  // idle timeout or peer closed between transactions
        co_await read_failed(ec, "reading the request head");
        co_return false;
      }
      mark_started();
    }
  }

  // After an error answer the client may still be sending the request it started. Closing
  // with unread bytes would make the kernel send a reset, which can destroy the error
  // response before the client reads it; so read and discard for a little while first
  // (bounded in time and bytes), as HTTP servers do.
  asio::awaitable<void> linger() {
    std::size_t discarded = 0;
    while (discarded < (std::size_t{4} << 20)) {
      begin_ = end_ = 0;
      set_deadline(std::chrono::seconds(2));
      timed_out_ = false;
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf_), use_tuple);
      if (ec) break;
      discarded += n;
    }
  }

  // A read failed mid-transaction: 408 on timeout if nothing was sent yet; log either way.
  asio::awaitable<void> read_failed(error_code ec, std::string_view doing) {
    if (ec == asio::error::timed_out) {
      spdlog::warn("connection {}: timeout {}", peer_, doing);
      if (!response_started_) {
        std::string why = "timeout " + std::string(doing);
        co_await send_error(408, std::move(why), true);
      } else
        tx_status_ = 408;
    } else {
      spdlog::info("connection {}: {} while {}", peer_, ec.message(), doing);
      if (tx_status_ == 0) tx_status_ = 499;  // closed by the client before an answer
      tx_verdict_ = "client-closed";
    }
  }

  // Sends an error response. `close` adds Connection: close (the caller then closes).
  asio::awaitable<void> send_error(int status, std::string reason, bool close) {
    tx_status_ = status;
    tx_verdict_ = reason;
    spdlog::info("connection {}: ICAP {} {}: {}", peer_, status, status_reason(status), reason);
    auto m = meta(close);
    m.extra.emplace_back("X-Imcap-Error", reason);
    auto msg = status_response(status, m);
    co_await write(std::move(msg));
  }

  // Reads and discards the rest of the body: until done, or until preview_done when only a
  // preview was coming. False when the connection cannot continue.
  asio::awaitable<bool> drain() {
    while (true) {
      auto r = parse();
      switch (r.status) {
        case parse_status::body:
        case parse_status::head_done:
          continue;
        case parse_status::done:
        case parse_status::preview_done:
          co_return true;
        case parse_status::error:
          spdlog::info("connection {}: {} while discarding the body", peer_,
                       error_reason(parser_.error()));
          co_return false;
        case parse_status::incomplete:
          break;
      }
      auto ec = co_await read_more(rt_->cfg.read_timeout);
      if (ec) {
        co_await read_failed(ec, "discarding the body");
        co_return false;
      }
    }
  }

  // ---- the transaction ---------------------------------------------------------------------

  asio::awaitable<after> reject_overloaded() {
    begin_tx();
    // Read the head so the client gets its answer in the order it expects, then refuse.
    auto timeout = std::min(rt_->cfg.read_timeout, std::chrono::seconds(10));
    while (true) {
      auto r = parse();
      if (r.status != parse_status::incomplete) break;
      auto ec = co_await read_more(timeout);
      if (ec) co_return after::close;
      mark_started();
    }
    std::string why = "over Max-Connections";
    co_await send_error(503, std::move(why), true);
    end_tx();
    co_return after::close;
  }

  asio::awaitable<after> reject(int status, std::string reason) {
    co_await send_error(status, std::move(reason), false);
    co_return (co_await drain()) ? after::keep_alive : after::close;
  }

  asio::awaitable<after> serve() {
    if (!co_await read_head()) co_return after::close;
    const auto& req = parser_.request();
    const auto& cfg = rt_->cfg;
    identity_ = extract_identity(req.headers, cfg.identity);

    auto it = srv_.services.find(req.service);
    if (it == srv_.services.end()) {
      std::string why = "no service at " + req.service;
      co_return co_await reject(404, std::move(why));
    }
    auto& svc = *it->second;
    const auto& info = svc.info();

    if (req.method == method::options) {
      if (auto why = svc.unhealthy(); !why.empty()) {
        // Squid treats a non-200 OPTIONS answer as a failed service (down until
        // icap_service_revival_delay), which is what a fail-closed stage that is down needs.
        co_return co_await reject(503, std::move(why));
      }
      std::string methods;
      if (info.reqmod) methods = "REQMOD";
      if (info.respmod) methods += methods.empty() ? "RESPMOD" : ", RESPMOD";
      std::string service_text = "imcap/" IMCAP_VERSION " " + info.description;
      options_info o{methods,         service_text,     info.name,    cfg.max_connections,
                     cfg.options_ttl, cfg.preview_size, cfg.allow_206};
      tx_status_ = 200;
      tx_verdict_ = "options";
      auto msg = options_response(o, meta());
      if (!co_await write(std::move(msg))) co_return after::close;
      co_return (co_await drain()) ? after::keep_alive : after::close;
    }
    if ((req.method == method::reqmod && !info.reqmod) ||
        (req.method == method::respmod && !info.respmod)) {
      std::string why = std::string(to_string(req.method)) + " not supported by " + req.service;
      co_return co_await reject(405, std::move(why));
    }

    icap::transaction tx{req, identity_, tx_id_};
    auto ex = svc.open(tx);

    body_.clear();
    stage_ = req.has_body() ? body_stage::pending : body_stage::complete;
    continued_ = false;
    if (req.has_body() && req.preview) {
      while (stage_ == body_stage::pending) {
        auto r = parse();
        switch (r.status) {
          case parse_status::body:
            body_.append(r.data);
            continue;
          case parse_status::preview_done:
            stage_ = body_stage::after_preview;
            continue;
          case parse_status::done:
            stage_ = body_stage::complete;
            continue;
          case parse_status::error: {
            auto e = parser_.error();
            std::string why(error_reason(e));
            co_await send_error(error_status(e), std::move(why), true);
            co_return after::close;
          }
          case parse_status::head_done:
          case parse_status::incomplete:
            break;
        }
        auto ec = co_await read_more(cfg.read_timeout);
        if (ec) {
          co_await read_failed(ec, "reading the preview");
          co_return after::close;
        }
      }
    }

    reply rep;
    try {
      if (auto early = ex->on_heads())
        rep = std::move(*early);
      else
        rep = co_await ex->on_preview(body_, stage_ == body_stage::complete);
    } catch (const std::exception& e) {
      spdlog::error("service {}: on_preview failed: {}", req.service, e.what());
      rep = reply::failure(500, "service failure");
    }
    co_return co_await act(*ex, std::move(rep));
  }

  bool preview_offered() const { return parser_.request().headers.get("Preview").has_value(); }
  // 204 is acceptable inside the preview, or anywhere with "Allow: 204".
  bool can_204() const { return parser_.request().allow_204 || (preview_offered() && !continued_); }
  // 206 inside the preview with "Allow: 206", outside it with "Allow: 204, 206".
  bool can_206() const {
    const auto& req = parser_.request();
    return rt_->cfg.allow_206 && req.allow_206 &&
           ((preview_offered() && !continued_) || req.allow_204);
  }

  // The original heads as an adapted message would carry them.
  void original_heads(http_message& m) const {
    const auto& req = parser_.request();
    if (req.method == method::reqmod) {
      if (req.http_request) m.req_head = req.http_request->raw;
    } else if (req.http_response) {
      m.res_head = req.http_response->raw;
    }
  }

  // Sends 100 Continue after a preview; the rest of the body follows.
  asio::awaitable<bool> send_continue() {
    auto msg = status_response(100, meta());
    if (!co_await write(std::move(msg))) co_return false;
    continued_ = true;
    parser_.continue_after_preview();
    stage_ = body_stage::pending;
    co_return true;
  }

  asio::awaitable<after> act(exchange& ex, reply rep) {
    tx_verdict_ = rep.verdict;
    if (!rep.app.empty()) tx_app_ = rep.app;
    if (!rep.rules.empty()) tx_rules_ = rep.rules;
    // The common answer, a 204, in a small coroutine frame: act_on's frame (every case's
    // locals) is larger than Asio recycles per thread, so it is allocated only when needed.
    if (rep.what == reply::kind::unmodified && can_204()) {
      tx_status_ = 204;
      // A named local, not a temporary inside the co_await expression: GCC 12 mishandles
      // non-trivial temporaries that live across a suspension point.
      auto msg = status_response(204, meta());
      if (!co_await write(std::move(msg))) co_return after::close;
      if (stage_ == body_stage::pending && !co_await drain()) co_return after::close;
      co_return after::keep_alive;
    }
    co_return co_await act_on(ex, std::move(rep));
  }

  asio::awaitable<after> act_on(exchange& ex, reply rep) {
    const auto& req = parser_.request();
    switch (rep.what) {
      case reply::kind::unmodified:
        if (can_204()) {
          tx_status_ = 204;
          auto msg = status_response(204, meta());
          if (!co_await write(std::move(msg))) co_return after::close;
          if (stage_ == body_stage::pending && !co_await drain()) co_return after::close;
          co_return after::keep_alive;
        }
        co_return co_await echo({}, nullptr);

      case reply::kind::need_body: {
        if (stage_ == body_stage::after_preview && !co_await send_continue())
          co_return after::close;
        if (stage_ == body_stage::pending) {
          auto limit = rt_->cfg.max_buffered_body;
          while (true) {
            auto r = parse();
            if (r.status == parse_status::body) {
              if (body_.size() + r.data.size() > limit) {
                spdlog::warn(
                    "connection {}: body over limits.max_buffered_body ({} bytes); "
                    "passing it through unadapted",
                    peer_, limit);
                tx_verdict_ = "oversize";
                body_.append(r.data);  // within this read buffer: bounded by its size
                // The service may refuse instead (its fail policy); the rest is drained.
                if (auto refusal = ex.on_oversize(); refusal.what == reply::kind::replace) {
                  refusal.verdict = refusal.verdict.empty() ? "oversize" : refusal.verdict;
                  co_return co_await act(ex, std::move(refusal));
                }
                if (can_204()) {
                  tx_status_ = 204;
                  auto msg = status_response(204, meta());
                  if (!co_await write(std::move(msg))) co_return after::close;
                  co_return (co_await drain()) ? after::keep_alive : after::close;
                }
                co_return co_await echo({}, nullptr);
              }
              body_.append(r.data);
              continue;
            }
            if (r.status == parse_status::done) break;
            if (r.status == parse_status::error) {
              auto e = parser_.error();
              std::string why(error_reason(e));
              co_await send_error(error_status(e), std::move(why), true);
              co_return after::close;
            }
            auto ec = co_await read_more(rt_->cfg.read_timeout);
            if (ec) {
              co_await read_failed(ec, "reading the body");
              co_return after::close;
            }
          }
          stage_ = body_stage::complete;
        }
        reply second;
        try {
          second = co_await ex.on_body(body_);
        } catch (const std::exception& e) {
          spdlog::error("service {}: on_body failed: {}", req.service, e.what());
          second = reply::failure(500, "service failure");
        }
        if (second.what == reply::kind::need_body) second = reply::unmodified(second.verdict);
        co_return co_await act(ex, std::move(second));
      }

      case reply::kind::replace: {
        auto& m = rep.message;
        bool valid =
            req.method == method::reqmod ? (m.req_head || m.res_head) : (m.res_head && !m.req_head);
        if (!valid) {
          spdlog::error("service {}: replacement message lacks the heads {} needs", req.service,
                        to_string(req.method));
          std::string why = "service produced an invalid message";
          co_await send_error(500, std::move(why), true);
          co_return after::close;
        }
        tx_status_ = 200;
        auto out = message_response(200, meta(), m.req_head, m.res_head, m.body.has_value());
        if (m.body) {
          append_chunk(out, *m.body);
          out += last_chunk;
        }
        if (!co_await write(std::move(out))) co_return after::close;
        if (stage_ == body_stage::pending && !co_await drain()) co_return after::close;
        co_return after::keep_alive;
      }

      case reply::kind::new_heads: {
        http_message heads = std::move(rep.message);
        if (!heads.req_head && !heads.res_head) original_heads(heads);
        if (req.has_body() && can_206()) {
          tx_status_ = 206;
          auto out = message_response(206, meta(), heads.req_head, heads.res_head, true);
          out += use_original_body(0);
          if (!co_await write(std::move(out))) co_return after::close;
          if (stage_ == body_stage::pending && !co_await drain()) co_return after::close;
          co_return after::keep_alive;
        }
        co_return co_await echo(std::move(heads), nullptr);
      }

      case reply::kind::stream:
        co_return co_await echo(std::move(rep.message), &ex);

      case reply::kind::error: {
        int status = rep.status >= 400 && rep.status <= 599 ? rep.status : 500;
        std::string why = rep.reason;
        co_await send_error(status, std::move(why), true);
      }
        co_return after::close;
    }
    co_return after::close;
  }

  // Sends a 200 with `heads` (the original ones when empty) and the body: what is in hand,
  // then the rest as it arrives. With a filter, every piece passes through it.
  asio::awaitable<after> echo(http_message heads, exchange* filter) {
    const auto& req = parser_.request();
    if (!heads.req_head && !heads.res_head) original_heads(heads);
    if (stage_ == body_stage::after_preview && !co_await send_continue()) co_return after::close;
    tx_status_ = 200;
    std::string out = message_response(200, meta(), heads.req_head, heads.res_head, req.has_body());
    if (!req.has_body())
      co_return (co_await write(std::move(out))) ? after::keep_alive : after::close;

    std::string filtered;
    auto frame = [&](std::string_view data, bool last) {
      if (filter) {
        filtered.clear();
        filter->filter(data, last, filtered);
        append_chunk(out, filtered);
      } else {
        append_chunk(out, data);
      }
    };
    bool finished = stage_ == body_stage::complete;
    frame(body_, finished);
    body_.clear();
    if (finished) {
      out += last_chunk;
      co_return (co_await write(std::move(out))) ? after::keep_alive : after::close;
    }

    // Streaming: one gathered write per read, chunk data sent straight from the read buffer.
    // Large bodies move in fewer, larger reads and writes with a bigger buffer; a connection
    // keeps it once grown (at most large_buffer per connection).
    if (buf_.size() < large_buffer) buf_.resize(large_buffer);
    std::vector<std::string_view> pieces;
    std::string sizes;
    std::vector<asio::const_buffer> buffers;
    while (true) {
      pieces.clear();
      bool failed = false;
      while (true) {
        auto r = parse();
        if (r.status == parse_status::body) {
          if (filter)
            frame(r.data, false);
          else
            pieces.push_back(r.data);
          continue;
        }
        if (r.status == parse_status::done) finished = true;
        if (r.status == parse_status::error) failed = true;
        break;
      }
      if (failed) {
        std::string why(error_reason(parser_.error()));
        if (!response_started_) {
          co_await send_error(error_status(parser_.error()), std::move(why), true);
          co_return after::close;
        }
        // The response has begun; the only honest signal left is to cut the connection.
        spdlog::info("connection {}: {} in the body; closing mid-response", peer_, why);
        tx_verdict_ = std::move(why);
        co_return after::close;
      }
      if (filter && finished) frame({}, true);
      sizes.clear();
      sizes.reserve(pieces.size() * 20);
      buffers.clear();
      buffers.push_back(asio::buffer(out));
      for (auto piece : pieces) {
        auto at = sizes.size();
        append_chunk_header(sizes, piece.size());
        buffers.push_back(asio::buffer(sizes.data() + at, sizes.size() - at));
        buffers.push_back(asio::buffer(piece));
        buffers.push_back(asio::buffer(chunk_end));
      }
      if (finished) buffers.push_back(asio::buffer(last_chunk));
      if (!co_await write_buffers(buffers)) co_return after::close;
      out.clear();
      if (finished) co_return after::keep_alive;
      auto ec = co_await read_more(rt_->cfg.read_timeout);
      if (ec) {
        co_await read_failed(ec, "streaming the body");
        co_return after::close;
      }
    }
  }

  static constexpr auto never = std::chrono::steady_clock::time_point::max();
  // Read buffer sizes: small while heads and previews are all that pass, large once a body
  // streams through (measured: 256 KiB reads cut CPU per 1 MiB echo by about 7% against 64 KiB).
  static constexpr std::size_t small_buffer = std::size_t{16} << 10;
  static constexpr std::size_t large_buffer = std::size_t{256} << 10;

  server::impl& srv_;
  std::size_t index_;  // which I/O thread (and log batch) this connection lives on
  tcp::socket socket_;
  asio::steady_timer watchdog_;
  std::chrono::steady_clock::time_point deadline_ = never;
  std::chrono::steady_clock::time_point armed_ = never;
  bool timed_out_ = false;
  bool closed_ = false;
  int last_status_ = 0;  // ICAP status of the last answer, for the lingering close
  bool overloaded_;
  std::string peer_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  request_parser parser_;
  std::shared_ptr<const runtime> rt_;
  bool idle_ = true;

  // Per transaction.
  std::uint64_t tx_id_ = 0;
  bool tx_started_ = false;
  bool response_started_ = false;
  int tx_status_ = 0;
  std::uint64_t tx_bytes_out_ = 0;
  std::string tx_verdict_;
  std::string tx_app_;
  std::string tx_rules_;
  std::chrono::steady_clock::time_point tx_start_;
  client_identity identity_;
  std::string body_;
  body_stage stage_ = body_stage::complete;
  bool continued_ = false;
};

}  // namespace

asio::awaitable<void> server::impl::accept_loop(tcp::acceptor& acceptor) {
  asio::steady_timer backoff(acceptor.get_executor());
  while (!draining.load()) {
    auto index = next_ioc++ % iocs.size();
    auto& ioc = *iocs[index];
    auto [ec, socket] = co_await acceptor.async_accept(ioc, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining.load()) break;
      // Out of descriptors or memory: wait instead of spinning; clients queue in the backlog.
      spdlog::error("accept: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    stats.connections_accepted++;
    auto limit = rt.load()->cfg.max_connections;
    bool overloaded = false;
    {
      std::lock_guard lock(mu);
      if (stats.connections_active.load() >= limit)
        overloaded = true;
      else
        stats.connections_active++;
    }
    if (overloaded) {
      stats.connections_rejected++;
      spdlog::warn("connection limit {} reached; answering 503", limit);
    }
    auto conn = std::make_shared<connection>(*this, index, std::move(socket), overloaded);
    asio::co_spawn(ioc, conn->run(conn), [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("connection task ended with: {}", ex.what());
      }
    });
  }
}

asio::awaitable<void> server::impl::flush_loop(std::size_t index) {
  // A line reaches the writer at most this long after its transaction ended.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!draining.load()) {
    timer.expires_after(std::chrono::milliseconds(200));
    co_await timer.async_wait(use_tuple);
    auto& b = batches[index];
    if (b.owner && !b.text.empty()) b.owner->write_batch(b.text);
  }
}

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {
  impl_->boot_time =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (unsigned i = 0; i < std::max(1u, impl_->boot.threads); ++i) {
    impl_->iocs.push_back(std::make_unique<asio::io_context>(1));
    impl_->guards.push_back(asio::make_work_guard(*impl_->iocs.back()));
  }
  impl_->batches.resize(impl_->iocs.size());
  impl_->install(impl_->boot);
}

server::~server() {
  stop();
}

void server::add_service(std::shared_ptr<service> s) {
  impl_->services["/" + s->info().name] = std::move(s);
}

std::vector<tcp::endpoint> server::listen() {
  std::vector<tcp::endpoint> bound;
  for (const auto& a : impl_->boot.listen) {
    tcp::endpoint ep(asio::ip::make_address(a.host), a.port);
    auto acc = std::make_unique<tcp::acceptor>(*impl_->iocs[0]);
    error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::system_error(ec, "cannot listen on " + a.host + ":" + std::to_string(a.port));
    bound.push_back(acc->local_endpoint());
    impl_->acceptors.push_back(std::move(acc));
  }
  return bound;
}

void server::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  for (auto& acc : impl_->acceptors)
    asio::co_spawn(*impl_->iocs[0], impl_->accept_loop(*acc), asio::detached);
  for (std::size_t i = 0; i < impl_->iocs.size(); ++i)
    asio::co_spawn(*impl_->iocs[i], impl_->flush_loop(i), asio::detached);
  for (std::size_t i = 0; i < impl_->iocs.size(); ++i)
    impl_->threads.emplace_back([&io = *impl_->iocs[i], i] {
      name_this_thread("imcap-io-" + std::to_string(i));
      while (true) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          spdlog::critical("I/O thread: {}", e.what());
        }
      }
    });
}

void server::reload(config cfg) {
  const auto& boot = impl_->boot;
  bool same_listen = cfg.listen.size() == boot.listen.size();
  for (std::size_t i = 0; same_listen && i < cfg.listen.size(); ++i)
    same_listen =
        cfg.listen[i].host == boot.listen[i].host && cfg.listen[i].port == boot.listen[i].port;
  if (!same_listen) spdlog::warn("reload: server.listen changed; restart imcapd to apply it");
  if (cfg.threads != boot.threads || cfg.blocking_threads != boot.blocking_threads)
    spdlog::warn("reload: thread counts changed; restart imcapd to apply them");
  impl_->install(std::move(cfg));
  spdlog::info("configuration reloaded; ISTag is now {}", istag());
}

std::size_t server::stop() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.stopped || !d.started) {
      d.stopped = true;
      return 0;
    }
    d.stopped = true;
  }
  d.draining = true;
  for (auto& acc : d.acceptors)
    asio::post(acc->get_executor(), [a = acc.get()] {
      error_code ec;
      a->close(ec);
    });
  std::size_t cut = 0;
  {
    std::unique_lock lock(d.mu);
    for (auto* c : d.conns) c->post_drain(false);
    auto timeout = d.rt.load()->cfg.drain_timeout;
    if (!d.cv.wait_for(lock, timeout, [&] { return d.conns.empty(); })) {
      cut = d.conns.size();
      spdlog::warn("drain timeout ({}s): closing {} connection(s) still busy", timeout.count(),
                   cut);
      for (auto* c : d.conns) c->post_drain(true);
    }
  }
  d.guards.clear();
  if (cut > 0)
    for (auto& ioc : d.iocs) ioc->stop();
  for (auto& t : d.threads) t.join();
  d.threads.clear();
  d.blocking.join();
  for (auto& b : d.batches) {
    if (b.owner) b.owner->write_batch(b.text);
    b.owner.reset();
  }
  d.rt.load()->log->close();
  return cut;
}

const server_stats& server::stats() const noexcept {
  return impl_->stats;
}

void server::set_istag_contribution(std::string contribution) {
  if (impl_->set_contribution(std::move(contribution))) spdlog::info("ISTag is now {}", istag());
}

std::string server::istag() const {
  return impl_->rt.load()->istag;
}

asio::any_io_executor server::blocking_executor() {
  return impl_->blocking.get_executor();
}

}  // namespace imcap::icap
