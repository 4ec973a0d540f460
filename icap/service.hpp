#pragma once
// The interface between the ICAP server and the services it hosts (/echo now, /imcap later).
//
// For each REQMOD/RESPMOD transaction the server calls service::open() once the ICAP head and
// the encapsulated HTTP heads are in, then exchange::on_heads() (a reply from the heads alone,
// or nothing), and if that gave nothing, exchange::on_preview() with the preview bytes (or
// with nothing when the client sent no preview). The reply says what happens next; see
// reply::kind. The server owns all protocol decisions that follow from a reply (204 vs 206 vs
// echo, 100 Continue, draining, chunk framing), so services never write ICAP themselves.
//
// Threads: open(), on_preview(), on_body() and filter() run on the connection's I/O thread.
// They must not block; blocking work (ClamAV, disk) goes to a pool, e.g. with
// boost::asio::co_spawn onto that pool's executor and co_await the result. Coroutines may
// suspend; the exchange object stays alive until the reply has been sent.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "icap/identity.hpp"
#include "icap/message.hpp"

namespace imcap::icap {

// What a service sees of one transaction.
struct transaction {
  const icap::request& request;   // ICAP head, encapsulated heads, Allow flags
  const client_identity& client;  // proxy user and client IP
  std::uint64_t id;               // unique per process, also in the access log
};

// An adapted HTTP message: complete heads (ending in an empty line) and an optional body.
// For REQMOD, setting only `res_head` answers the request itself ("request satisfaction",
// e.g. a block page); for RESPMOD only `res_head` is used.
struct http_message {
  std::optional<std::string> req_head;
  std::optional<std::string> res_head;
  std::optional<std::string> body;  // nullopt: no body (null-body)
};

struct reply {
  enum class kind {
    unmodified,  // adapt nothing: 204 where the client allows it, else the original echoed
    need_body,   // read the whole body (up to limits.max_buffered_body), then on_body()
    replace,     // answer with `message` now; any body still coming is read and discarded
    new_heads,   // `message` heads with the original body: 206 use-original-body=0 where the
                 // client allows 206 here, else a 200 streaming the original body
    stream,      // `message` heads (or the original ones if none), then the body passes
                 // through exchange::filter() piece by piece as it arrives
    error,       // answer ICAP `status` (4xx/5xx), log `reason`, and close the connection
  };

  kind what = kind::unmodified;
  http_message message;
  int status = 0;
  std::string reason;
  std::string verdict;  // one word for the access log ("allow", "block", ...)
  std::string app;      // the chat app judged, for the access log ("" when none)
  std::string rules;    // rule ids that hit, comma-separated, for the access log

  static reply unmodified(std::string verdict = "allow") {
    reply r;
    r.verdict = std::move(verdict);
    return r;
  }
  static reply need_body() {
    reply r;
    r.what = kind::need_body;
    return r;
  }
  static reply replace(http_message m, std::string verdict) {
    reply r;
    r.what = kind::replace;
    r.message = std::move(m);
    r.verdict = std::move(verdict);
    return r;
  }
  static reply failure(int status, std::string reason) {
    reply r;
    r.what = kind::error;
    r.status = status;
    r.reason = std::move(reason);
    r.verdict = "error";
    return r;
  }
};

// One transaction's adaptation logic; created by service::open(), destroyed after the reply.
class exchange {
 public:
  virtual ~exchange() = default;

  // A reply decided from the heads alone (what open() saw), asked once the preview has been
  // read and before on_preview: a service answers the traffic it leaves alone here, without a
  // coroutine. nullopt (the default) goes on to on_preview. Must not block.
  virtual std::optional<reply> on_heads() { return std::nullopt; }

  // `preview` holds the preview body (empty when no preview was sent). `complete` is true when
  // `preview` is the whole body (ieof, or no body at all).
  virtual boost::asio::awaitable<reply> on_preview(std::string_view preview, bool complete) = 0;

  // After reply::need_body: the whole body. May return unmodified, replace, new_heads, error.
  virtual boost::asio::awaitable<reply> on_body(std::string& body) {
    (void)body;
    co_return reply::unmodified();
  }

  // After reply::need_body, when the body outgrows limits.max_buffered_body: `unmodified`
  // (the default) lets it through unadapted; `replace` answers with that message instead (the
  // rest of the body is read and discarded). Must not block.
  virtual reply on_oversize() { return reply::unmodified("oversize"); }

  // After reply::stream: transform one piece of the body into `out` (appended). `last` is
  // true once, after the final piece (which may be empty). Must not block.
  virtual void filter(std::string_view in, bool last, std::string& out) {
    (void)last;
    out.append(in);
  }
};

// What a service advertises in OPTIONS and which methods it accepts.
struct service_info {
  std::string name;         // the URI path without '/', e.g. "echo"; also the Service-ID
  std::string description;  // sent in the Service header
  bool reqmod = true;
  bool respmod = true;
};

class service {
 public:
  virtual ~service() = default;
  virtual const service_info& info() const noexcept = 0;
  virtual std::unique_ptr<exchange> open(const transaction& tx) = 0;
  // Empty when the service can serve; otherwise why not (e.g. "archive unavailable"). OPTIONS
  // for this service is then answered 503 with the reason in X-Imcap-Error, so Squid marks
  // the service down until it asks again (icap_service_revival_delay). Any thread; cheap.
  virtual std::string unhealthy() const { return {}; }
};

}  // namespace imcap::icap
