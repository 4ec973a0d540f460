// icap_load: ICAP/1.0 load generator for imcap's benchmarks (bench/README.md).
//
// Drives REQMOD (with or without preview) and RESPMOD transactions against one ICAP service over
// persistent connections, one transaction in flight per connection, checks every answer (status,
// Encapsulated offsets, encapsulated HTTP head, chunked body, echoed bytes compared with what was
// sent) and reports throughput, latency percentiles, errors and, when given the server's pid, the
// server's CPU time per transaction.
//
// Ownership and threads: the request bytes and the expected body are built once, before any
// worker starts, and are read-only afterwards; every worker thread owns its epoll instance, its
// connections, their receive buffers and its statistics. Workers share only the atomics in
// `shared_state` (phase and transaction budget). Statistics are merged after the workers joined.
//
// Deliberately dependency-free (POSIX sockets + epoll, one TU) so it builds in about two seconds
// and costs the machine as little CPU as possible: a 2-core box runs server and generator side by
// side.

#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Options

enum class run_mode : std::uint8_t {
  reqmod_preview,  // REQMOD, Allow: 204, Preview: whole body (ieof) unless --preview is smaller
  reqmod,          // REQMOD, Allow: 204, no preview: server answers 204 or echoes with 200
                   // (both REQMOD modes drop Allow: 204 with --no-204: then only 200 is right)
  respmod,         // RESPMOD, no Allow: 204, no preview: server must echo the whole body in a 200
};

struct options {
  std::string host = "127.0.0.1";
  std::string port = "1344";
  std::string service = "/echo";
  run_mode mode = run_mode::reqmod_preview;
  std::size_t body_bytes = 0;  // 0: mode default (1024 for REQMOD, 1 MiB for RESPMOD)
  bool body_bytes_set = false;
  std::size_t chunk_bytes = 65536;
  std::optional<std::size_t> preview;  // reqmod-preview only
  unsigned connections = 1;
  unsigned threads = 1;
  double duration_s = 10.0;
  bool duration_set = false;
  std::uint64_t transactions = 100'000'000;
  double warmup_s = 0.0;
  double timeout_s = 10.0;
  long server_pid = 0;
  bool json = false;
  bool verify = true;
  bool allow_204 = true;            // REQMOD modes send Allow: 204 unless --no-204
  std::string request = "generic";  // REQMOD HTTP request shape: generic | slack
  std::string user;                 // X-Client-Username sent with every transaction
};

[[noreturn]] void usage(int code) {
  std::fputs(
      "usage: icap_load [options]\n"
      "  --host H            server address (default 127.0.0.1)\n"
      "  --port P            server port (default 1344)\n"
      "  --service PATH      ICAP service path (default /echo)\n"
      "  --mode M            reqmod-preview | reqmod | respmod (default reqmod-preview)\n"
      "  --body-bytes N      body size (default 1024, respmod 1048576)\n"
      "  --chunk-bytes N     ICAP chunk size for bodies (default 65536)\n"
      "  --preview N         reqmod-preview: preview size (default: whole body, sent with ieof)\n"
      "  --connections C     persistent connections, one transaction in flight each (default 1)\n"
      "  --threads T         generator threads, each with its own epoll loop (default 1)\n"
      "  --duration S        measured time limit in seconds (default 10; 300 with --transactions)\n"
      "  --transactions N    measured transaction limit (default 100000000)\n"
      "  --warmup S          unmeasured warm-up before the measurement (default 0)\n"
      "  --timeout S         per-read/write inactivity timeout, counted as error (default 10)\n"
      "  --server-pid PID    report CPU time of PID and its descendants during the measurement\n"
      "  --no-verify         do not compare echoed body bytes (lengths are still checked)\n"
      "  --no-204            REQMOD modes: omit Allow: 204, so the server must echo (200)\n"
      "  --request R         REQMOD HTTP request: generic (a JSON POST to chat.example.com, which\n"
      "                      no decoder claims: non-chat for /imcap) or slack (a Slack\n"
      "                      chat.postMessage JSON message, decoded, scanned and archived by\n"
      "                      /imcap) (default generic)\n"
      "  --user NAME         send X-Client-Username: NAME (the proxy user)\n"
      "  --json              print one JSON object instead of the text report\n"
      "Exit status: 0 no errors, 1 some transactions failed, 2 usage, 3 nothing completed.\n",
      code == 0 ? stdout : stderr);
  std::exit(code);
}

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    std::fprintf(stderr, "icap_load: bad value for %.*s: '%.*s'\n", static_cast<int>(flag.size()),
                 flag.data(), static_cast<int>(text.size()), text.data());
    usage(2);
  }
  return value;
}

options parse_options(int argc, char** argv) {
  options o;
  bool transactions_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "icap_load: %s needs a value\n", argv[i]);
        usage(2);
      }
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h")
      usage(0);
    else if (flag == "--host")
      o.host = value();
    else if (flag == "--port")
      o.port = value();
    else if (flag == "--service")
      o.service = value();
    else if (flag == "--mode") {
      std::string_view m = value();
      if (m == "reqmod-preview")
        o.mode = run_mode::reqmod_preview;
      else if (m == "reqmod")
        o.mode = run_mode::reqmod;
      else if (m == "respmod")
        o.mode = run_mode::respmod;
      else {
        std::fprintf(stderr, "icap_load: unknown mode '%.*s'\n", static_cast<int>(m.size()),
                     m.data());
        usage(2);
      }
    } else if (flag == "--body-bytes") {
      o.body_bytes = parse_number<std::size_t>(flag, value());
      o.body_bytes_set = true;
    } else if (flag == "--chunk-bytes")
      o.chunk_bytes = parse_number<std::size_t>(flag, value());
    else if (flag == "--preview")
      o.preview = parse_number<std::size_t>(flag, value());
    else if (flag == "--connections")
      o.connections = parse_number<unsigned>(flag, value());
    else if (flag == "--threads")
      o.threads = parse_number<unsigned>(flag, value());
    else if (flag == "--duration") {
      o.duration_s = parse_number<double>(flag, value());
      o.duration_set = true;
    } else if (flag == "--transactions") {
      o.transactions = parse_number<std::uint64_t>(flag, value());
      transactions_set = true;
    } else if (flag == "--warmup")
      o.warmup_s = parse_number<double>(flag, value());
    else if (flag == "--timeout")
      o.timeout_s = parse_number<double>(flag, value());
    else if (flag == "--server-pid")
      o.server_pid = parse_number<long>(flag, value());
    else if (flag == "--no-verify")
      o.verify = false;
    else if (flag == "--no-204")
      o.allow_204 = false;
    else if (flag == "--request") {
      o.request = value();
      if (o.request != "generic" && o.request != "slack") {
        std::fprintf(stderr, "icap_load: --request is generic or slack\n");
        std::exit(2);
      }
    } else if (flag == "--user")
      o.user = value();
    else if (flag == "--json")
      o.json = true;
    else {
      std::fprintf(stderr, "icap_load: unknown option '%s'\n", argv[i]);
      usage(2);
    }
  }
  // Both limits always apply; a count-only run still gets a (generous) time limit.
  if (transactions_set && !o.duration_set) o.duration_s = 300.0;
  if (!o.body_bytes_set) o.body_bytes = o.mode == run_mode::respmod ? 1048576 : 1024;
  if (o.connections == 0 || o.threads == 0 || o.chunk_bytes == 0 || o.transactions == 0 ||
      !(o.duration_s > 0) || !(o.timeout_s > 0) || o.warmup_s < 0) {
    std::fputs(
        "icap_load: connections, threads, chunk-bytes, transactions, duration and timeout "
        "must be positive\n",
        stderr);
    usage(2);
  }
  if (o.preview && o.mode != run_mode::reqmod_preview) {
    std::fputs("icap_load: --preview applies to --mode reqmod-preview only\n", stderr);
    usage(2);
  }
  o.threads = std::min(o.threads, o.connections);
  if (o.service.empty() || o.service.front() != '/') o.service.insert(0, 1, '/');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Requests: built once, shared read-only by all connections.

struct request_template {
  std::string part1;  // ICAP head, HTTP head(s), body or preview, terminating chunk
  std::string part2;  // rest of the body after "100 Continue" (empty: nothing withheld)
  std::string body;   // the body bytes, which a 200 echo must return unchanged
  bool allow_204 = false;
  bool reqmod = false;
};

// A JSON chat message padded to exactly n bytes: the shape of an IM "send message" POST.
std::string make_json_body(std::size_t n) {
  static constexpr std::string_view head =
      R"({"type":"message","conversation_id":"c-7d1e42","client_msg_id":"m-000001",)"
      R"("sender":"alice@example.com","text":")";
  static constexpr std::string_view words =
      "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
  std::string s(head.substr(0, std::min(n, head.size())));
  while (s.size() + 2 < n) s.push_back(words[s.size() % words.size()]);
  if (s.size() < n) s += std::string_view("\"}").substr(0, n - s.size());
  return s;
}

// A Slack chat.postMessage JSON body of about n bytes (at least the fixed fields): plain words
// that no shipped signature matches, so /imcap decodes, scans, archives and allows it (204).
std::string make_slack_body(std::size_t n) {
  static constexpr std::string_view head =
      R"({"channel":"C0123ABCD","client_msg_id":"5b1c9a1e-0000-4c3e-9d7c-1a2b3c4d5e6f","text":")";
  static constexpr std::string_view words =
      "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
  std::string s(head);
  std::size_t i = 0;
  while (s.size() + 2 < n) s.push_back(words[i++ % words.size()]);
  s += "\"}";
  return s;
}

// Deterministic pseudo-random bytes (xorshift64): a binary download nobody can shortcut.
std::string make_binary_body(std::size_t n) {
  std::string s(n, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

void append_chunks(std::string& out, std::string_view data, std::size_t chunk_bytes) {
  char size_line[32];
  for (std::size_t off = 0; off < data.size(); off += chunk_bytes) {
    std::size_t len = std::min(chunk_bytes, data.size() - off);
    int k = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
    out.append(size_line, static_cast<std::size_t>(k));
    out.append(data.substr(off, len));
    out += "\r\n";
  }
}

request_template build_request(const options& o) {
  request_template t;
  std::string authority = o.host + ":" + o.port;
  std::string http_head;
  std::string icap = (o.mode == run_mode::respmod ? "RESPMOD" : "REQMOD");
  icap += " icap://" + authority + o.service + " ICAP/1.0\r\nHost: " + authority + "\r\n";
  if (!o.user.empty()) icap += "X-Client-Username: " + o.user + "\r\n";

  if (o.mode == run_mode::respmod) {
    t.body = make_binary_body(o.body_bytes);
    std::string req =
        "GET /files/attachment-0001.bin HTTP/1.1\r\n"
        "Host: files.chat.example.com\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) icap_load/1\r\n"
        "Accept: */*\r\n\r\n";
    std::string res =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: " +
        std::to_string(t.body.size()) + "\r\n\r\n";
    icap += "Encapsulated: req-hdr=0, res-hdr=" + std::to_string(req.size()) +
            ", res-body=" + std::to_string(req.size() + res.size()) + "\r\n\r\n";
    http_head = req + res;
  } else {
    t.reqmod = true;
    t.allow_204 = o.allow_204;
    if (o.request == "slack") {
      t.body = make_slack_body(o.body_bytes);
      http_head =
          "POST https://acme.slack.com/api/chat.postMessage HTTP/1.1\r\n"
          "Host: acme.slack.com\r\n"
          "User-Agent: Mozilla/5.0 (X11; Linux x86_64) icap_load/1\r\n"
          "Authorization: Bearer xoxp-3333-4444-benchuser\r\n"
          "Content-Type: application/json; charset=utf-8\r\n"
          "Content-Length: " +
          std::to_string(t.body.size()) + "\r\n\r\n";
    } else {
      t.body = make_json_body(o.body_bytes);
      http_head =
          "POST /api/v1/conversations/c-7d1e42/messages HTTP/1.1\r\n"
          "Host: chat.example.com\r\n"
          "User-Agent: Mozilla/5.0 (X11; Linux x86_64) icap_load/1\r\n"
          "Content-Type: application/json\r\n"
          "Content-Length: " +
          std::to_string(t.body.size()) + "\r\n\r\n";
    }
    if (t.allow_204) icap += "Allow: 204\r\n";
    if (o.mode == run_mode::reqmod_preview) {
      std::size_t preview = std::min(o.preview.value_or(t.body.size()), t.body.size());
      icap += "Preview: " + std::to_string(preview) + "\r\n";
      icap += "Encapsulated: req-hdr=0, req-body=" + std::to_string(http_head.size()) + "\r\n\r\n";
      t.part1 = icap + http_head;
      append_chunks(t.part1, std::string_view(t.body).substr(0, preview), o.chunk_bytes);
      if (preview == t.body.size()) {
        t.part1 += "0; ieof\r\n\r\n";
      } else {
        t.part1 += "0\r\n\r\n";
        append_chunks(t.part2, std::string_view(t.body).substr(preview), o.chunk_bytes);
        t.part2 += "0\r\n\r\n";
      }
      return t;
    }
    icap += "Encapsulated: req-hdr=0, req-body=" + std::to_string(http_head.size()) + "\r\n\r\n";
  }
  t.part1 = icap + http_head;
  append_chunks(t.part1, t.body, o.chunk_bytes);
  t.part1 += "0\r\n\r\n";
  return t;
}

// ---------------------------------------------------------------------------------------------
// Response parser: incremental, fed whatever bytes have arrived.

enum class error_kind : std::uint8_t {
  connect,        // could not connect
  io,             // send/recv failed or the peer closed mid-transaction
  timeout,        // no progress for --timeout seconds
  protocol,       // malformed ICAP response (status line, Encapsulated, chunking)
  status,         // a status this mode does not accept (e.g. 204 without Allow: 204, 500)
  echo_mismatch,  // a 200 whose body differs from what was sent (length or bytes)
  count_,
};
constexpr std::array<const char*, static_cast<std::size_t>(error_kind::count_)> error_names = {
    "connect", "io", "timeout", "protocol", "status", "echo_mismatch"};

enum class feed_result : std::uint8_t {
  need_more,     // all given bytes consumed (or a line is incomplete): read more
  got_continue,  // a "100 Continue" was parsed: send the withheld body, keep reading
  done,          // the final response is complete
  error,         // see error_kind / message
};

inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto ca = static_cast<unsigned char>(a[i]);
    auto cb = static_cast<unsigned char>(b[i]);
    if (ca != cb && (ca | 0x20) != (cb | 0x20)) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

class response_parser {
 public:
  static constexpr std::size_t max_line = 4096;

  void reset() {
    state_ = state::icap_head;
    status_ = 0;
    http_left_ = 0;
    has_body_ = false;
    chunk_left_ = 0;
    body_seen_ = 0;
    close_ = false;
    started_ = false;
  }

  // Consumes bytes from [p, p+n); `used` says how many. `expected` is the body a 200 echo must
  // carry (verified byte for byte when `verify`).
  feed_result feed(const char* p, std::size_t n, std::size_t& used, std::string_view expected,
                   bool verify) {
    used = 0;
    if (n > 0) started_ = true;
    while (used < n) {
      std::string_view in(p + used, n - used);
      switch (state_) {
        case state::icap_head: {
          std::size_t end = in.find("\r\n\r\n");
          if (end == std::string_view::npos) {
            if (in.size() > 65536) return fail("ICAP head larger than 64 KiB");
            return feed_result::need_more;
          }
          used += end + 4;
          if (!parse_icap_head(in.substr(0, end + 2))) return feed_result::error;
          if (status_ == 100) {
            started_ = used < n;
            return feed_result::got_continue;
          }
          state_ =
              http_left_ > 0 ? state::http_head : (has_body_ ? state::chunk_size : state::done);
          break;
        }
        case state::http_head: {
          std::size_t take = std::min(in.size(), http_left_);
          http_left_ -= take;
          used += take;
          if (http_left_ == 0) state_ = has_body_ ? state::chunk_size : state::done;
          break;
        }
        case state::chunk_size: {
          std::size_t eol = in.find("\r\n");
          if (eol == std::string_view::npos) {
            if (in.size() > max_line) return fail("chunk-size line too long");
            return feed_result::need_more;
          }
          std::string_view line = in.substr(0, eol);
          std::string_view hex = trim(line.substr(0, line.find(';')));
          std::size_t size = 0;
          auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
          if (hex.empty() || ec != std::errc{} || ptr != hex.data() + hex.size())
            return fail("bad chunk-size line");
          used += eol + 2;
          if (size == 0) {
            state_ = state::trailer;
          } else {
            chunk_left_ = size;
            state_ = state::chunk_data;
          }
          break;
        }
        case state::chunk_data: {
          std::size_t take = std::min(in.size(), chunk_left_);
          if (body_seen_ + take > expected.size()) {
            error_kind_ = error_kind::echo_mismatch;
            return fail("echoed body longer than the " + std::to_string(expected.size()) +
                        " bytes sent");
          }
          if (verify && std::memcmp(in.data(), expected.data() + body_seen_, take) != 0) {
            error_kind_ = error_kind::echo_mismatch;
            return fail("echoed body differs from the body sent near offset " +
                        std::to_string(body_seen_));
          }
          body_seen_ += take;
          chunk_left_ -= take;
          used += take;
          if (chunk_left_ == 0) state_ = state::chunk_crlf;
          break;
        }
        case state::chunk_crlf:
          if (in.size() < 2) return feed_result::need_more;
          if (in[0] != '\r' || in[1] != '\n') return fail("chunk data not followed by CRLF");
          used += 2;
          state_ = state::chunk_size;
          break;
        case state::trailer: {
          std::size_t eol = in.find("\r\n");
          if (eol == std::string_view::npos) {
            if (in.size() > max_line) return fail("trailer line too long");
            return feed_result::need_more;
          }
          used += eol + 2;
          if (eol == 0) state_ = state::done;
          break;
        }
        case state::done:
          return feed_result::done;
      }
      if (state_ == state::done) return feed_result::done;
    }
    return state_ == state::done ? feed_result::done : feed_result::need_more;
  }

  int status() const { return status_; }
  bool has_body() const { return has_body_; }
  std::size_t body_seen() const { return body_seen_; }
  bool connection_close() const { return close_; }
  bool started() const { return started_; }  // any byte of this response arrived
  error_kind kind() const { return error_kind_; }
  const std::string& message() const { return message_; }

 private:
  enum class state : std::uint8_t {
    icap_head,   // status line + ICAP headers up to the empty line
    http_head,   // encapsulated HTTP head bytes (length from Encapsulated)
    chunk_size,  // chunk-size line
    chunk_data,  // chunk bytes
    chunk_crlf,  // CRLF after chunk bytes
    trailer,     // after the 0 chunk, up to the empty line
    done,        // response complete
  };

  feed_result fail(std::string msg) {
    if (error_kind_ != error_kind::echo_mismatch) error_kind_ = error_kind::protocol;
    message_ = std::move(msg);
    return feed_result::error;
  }

  // head: status line and header lines, each ending in CRLF (no final empty line).
  bool parse_icap_head(std::string_view head) {
    error_kind_ = error_kind::protocol;
    std::size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.size() < 12 || line.substr(0, 9) != "ICAP/1.0 ") {
      fail("bad status line '" + std::string(line.substr(0, 80)) + "'");
      return false;
    }
    int code = 0;
    auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, code);
    if (ec != std::errc{} || ptr != line.data() + 12 || code < 100) {
      fail("bad status code in '" + std::string(line.substr(0, 80)) + "'");
      return false;
    }
    status_ = code;
    bool saw_encapsulated = false;
    std::size_t body_offset = 0, null_offset = 0;
    bool has_null = false;
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
      eol = head.find("\r\n");
      line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        fail("header line without ':'");
        return false;
      }
      std::string_view name = trim(line.substr(0, colon));
      std::string_view value = trim(line.substr(colon + 1));
      if (ascii_iequals(name, "Connection")) {
        if (ascii_iequals(value, "close")) close_ = true;
      } else if (ascii_iequals(name, "Encapsulated")) {
        saw_encapsulated = true;
        std::size_t last_offset = 0;
        while (!value.empty()) {
          std::size_t comma = value.find(',');
          std::string_view item = trim(value.substr(0, comma));
          value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
          std::size_t eq = item.find('=');
          if (eq == std::string_view::npos) {
            fail("bad Encapsulated entry");
            return false;
          }
          std::string_view entity = item.substr(0, eq);
          std::string_view num = item.substr(eq + 1);
          std::size_t off = 0;
          auto [q, e] = std::from_chars(num.data(), num.data() + num.size(), off);
          if (e != std::errc{} || q != num.data() + num.size() || off < last_offset) {
            fail("bad Encapsulated offset");
            return false;
          }
          last_offset = off;
          if (entity == "req-body" || entity == "res-body" || entity == "opt-body") {
            has_body_ = true;
            body_offset = off;
          } else if (entity == "null-body") {
            has_null = true;
            null_offset = off;
          } else if (entity != "req-hdr" && entity != "res-hdr") {
            fail("unknown Encapsulated entity");
            return false;
          }
        }
      }
    }
    // c-icap sends 204 (and 100) without Encapsulated; RFC 3507 wants it on every response
    // but a 204 carries nothing either way, so only a 200 must have it.
    if (!saw_encapsulated && status_ == 200) {
      fail("200 without Encapsulated header");
      return false;
    }
    http_left_ = has_body_ ? body_offset : (has_null ? null_offset : 0);
    return true;
  }

  state state_ = state::icap_head;
  int status_ = 0;
  std::size_t http_left_ = 0;
  bool has_body_ = false;
  std::size_t chunk_left_ = 0;
  std::size_t body_seen_ = 0;
  bool close_ = false;
  bool started_ = false;
  error_kind error_kind_ = error_kind::protocol;
  std::string message_;
};

// ---------------------------------------------------------------------------------------------
// Shared run state and per-worker statistics.

enum class phase : int {
  warmup,   // transactions run but are not recorded
  measure,  // transactions started now are recorded and use the budget
  stop,     // no new transactions; in-flight ones finish (bounded by --timeout)
};

struct shared_state {
  std::atomic<phase> current{phase::warmup};
  std::atomic<std::int64_t> budget{0};
  std::mutex report_mutex;
  int errors_reported = 0;
};

struct worker_stats {
  std::uint64_t completed = 0;  // measured transactions that completed correctly
  std::uint64_t status_200 = 0;
  std::uint64_t status_204 = 0;
  std::uint64_t continues = 0;   // 100 Continue seen
  std::uint64_t reconnects = 0;  // connections reopened (server close, errors)
  std::uint64_t retries = 0;     // requests resent on a fresh connection after a stale keep-alive
  std::uint64_t bytes_echoed = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(error_kind::count_)> errors{};
  std::vector<std::uint32_t> latency_ns_div16;  // compact: 16 ns units, saturating
};

// ---------------------------------------------------------------------------------------------
// Connections and the worker loop.

struct connection {
  int fd = -1;
  std::unique_ptr<char[]> buf;
  std::size_t beg = 0, end = 0;
  const std::string* out = nullptr;  // what is being sent (part1 or part2 of the template)
  std::size_t out_off = 0;
  bool want_write = false;  // EPOLLOUT registered
  bool in_flight = false;
  bool measured = false;
  bool retried = false;
  std::uint64_t served = 0;  // transactions completed on this socket
  steady::time_point tx_start{}, last_progress{}, retry_at{};
  response_parser parser;
};

constexpr std::size_t recv_buffer_bytes = 256 * 1024;

class worker {
 public:
  worker(const options& o, const request_template& t, const addrinfo* addr, shared_state& shared,
         unsigned nconn)
      : opt_(o), tpl_(t), addr_(addr), shared_(shared), conns_(nconn) {
    stats_.latency_ns_div16.reserve(1u << 20);
    timeout_ =
        std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(opt_.timeout_s));
  }

  worker_stats& stats() { return stats_; }
  // When this worker's last measured transaction completed (epoch if none did).
  steady::time_point last_done() const { return last_done_; }

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("icap_load: epoll_create1");
      return;
    }
    for (auto& c : conns_) {
      c.buf = std::make_unique<char[]>(recv_buffer_bytes);
      if (open(c)) start(c);
    }
    std::array<epoll_event, 64> events{};
    auto next_sweep = steady::now();
    steady::time_point stop_seen{};
    for (;;) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 20);
      if (n < 0 && errno != EINTR) {
        std::perror("icap_load: epoll_wait");
        break;
      }
      for (int i = 0; i < n; ++i) {
        auto& ev = events[static_cast<std::size_t>(i)];
        auto* c = static_cast<connection*>(ev.data.ptr);
        if (c->fd < 0) continue;
        if ((ev.events & EPOLLOUT) && c->in_flight && !flush(*c)) continue;
        if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(*c);
      }
      auto now = steady::now();
      if (now >= next_sweep) {
        next_sweep = now + std::chrono::milliseconds(50);
        bool any_in_flight = false;
        for (auto& c : conns_) {
          if (c.in_flight && now - c.last_progress > timeout_) {
            char why[64];
            std::snprintf(why, sizeof why, "no progress for %g s", opt_.timeout_s);
            fail(c, error_kind::timeout, why);
          } else if (!c.in_flight && c.fd < 0 && now >= c.retry_at) {
            if (open(c)) start(c);
          } else if (!c.in_flight && c.fd >= 0) {
            start(c);  // idle after a refused start during warm-up/measure transitions
          }
          any_in_flight = any_in_flight || c.in_flight;
        }
        if (shared_.current.load(std::memory_order_relaxed) == phase::stop) {
          if (stop_seen == steady::time_point{}) stop_seen = now;
          // Drain: in-flight transactions finish or time out; the hard cap is a backstop.
          if (!any_in_flight || now - stop_seen > timeout_ + std::chrono::seconds(1)) break;
        }
      }
    }
    for (auto& c : conns_) close_fd(c);
    ::close(ep_);
  }

 private:
  bool open(connection& c) {
    int fd = ::socket(addr_->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return connect_failed(c, errno);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(opt_.timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((opt_.timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds the blocking connect
    if (::connect(fd, addr_->ai_addr, addr_->ai_addrlen) != 0) {
      int err = errno;
      ::close(fd);
      return connect_failed(c, err);
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      int err = errno;
      ::close(fd);
      return connect_failed(c, err);
    }
    c.fd = fd;
    c.want_write = false;
    c.served = 0;
    c.beg = c.end = 0;
    return true;
  }

  bool connect_failed(connection& c, int err) {
    count_error(error_kind::connect, std::string("connect: ") + std::strerror(err));
    c.retry_at = steady::now() + std::chrono::milliseconds(100);
    return false;
  }

  void close_fd(connection& c) {
    if (c.fd >= 0) {
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    c.in_flight = false;
    c.beg = c.end = 0;
  }

  // Starts the next transaction on an idle, open connection, if the phase and budget allow.
  void start(connection& c) {
    phase ph = shared_.current.load(std::memory_order_relaxed);
    if (ph == phase::stop) return;
    bool measured = false;
    if (ph == phase::measure) {
      if (shared_.budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
        shared_.current.store(phase::stop, std::memory_order_relaxed);
        return;
      }
      measured = true;
    }
    c.measured = measured;
    c.retried = false;
    c.tx_start = steady::now();
    send_request(c);
  }

  void send_request(connection& c) {
    c.in_flight = true;
    c.last_progress = c.tx_start;
    c.parser.reset();
    c.out = &tpl_.part1;
    c.out_off = 0;
    flush(c);
  }

  // Sends what is pending; false if the connection failed (and was handled).
  bool flush(connection& c) {
    while (c.out != nullptr && c.out_off < c.out->size()) {
      ssize_t k = ::send(c.fd, c.out->data() + c.out_off, c.out->size() - c.out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        c.out_off += static_cast<std::size_t>(k);
        c.last_progress = steady::now();
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_want_write(c, true);
        return true;
      }
      return peer_gone(c, std::string("send: ") + std::strerror(errno));
    }
    set_want_write(c, false);
    return true;
  }

  void set_want_write(connection& c, bool on) {
    if (c.want_write == on) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = on;
  }

  // The server closed or reset the socket. A kept-alive socket closed before any byte of the
  // answer is the normal keep-alive race (the server's idle close crossed our request): resend
  // once on a fresh connection. Anything else is an error.
  bool peer_gone(connection& c, std::string why) {
    if (c.in_flight && !c.parser.started() && c.served > 0 && !c.retried) {
      close_fd(c);
      ++stats_.reconnects;
      ++stats_.retries;
      if (!open(c)) return false;
      c.retried = true;
      send_request(c);
      return false;
    }
    fail(c, error_kind::io, std::move(why));
    return false;
  }

  void on_readable(connection& c) {
    for (;;) {
      if (c.end == recv_buffer_bytes) {
        if (c.beg == 0) {
          fail(c, error_kind::protocol, "response line or head exceeds the receive buffer");
          return;
        }
        std::memmove(c.buf.get(), c.buf.get() + c.beg, c.end - c.beg);
        c.end -= c.beg;
        c.beg = 0;
      }
      std::size_t space = recv_buffer_bytes - c.end;
      ssize_t k = ::recv(c.fd, c.buf.get() + c.end, space, MSG_DONTWAIT);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        peer_gone(c, std::string("recv: ") + std::strerror(errno));
        return;
      }
      if (k == 0) {
        if (!c.in_flight) {  // idle close by the server: reopen for the next transaction
          close_fd(c);
          ++stats_.reconnects;
          if (open(c)) start(c);
        } else {
          peer_gone(c, "server closed the connection mid-transaction");
        }
        return;
      }
      c.end += static_cast<std::size_t>(k);
      c.last_progress = steady::now();
      if (!c.in_flight) {
        fail(c, error_kind::protocol, "bytes received while no transaction was in flight");
        return;
      }
      if (!parse(c)) return;
      if (static_cast<std::size_t>(k) < space) return;  // drained; level-triggered epoll
    }
  }

  // Runs the parser over buffered bytes; false when the connection was closed or restarted.
  bool parse(connection& c) {
    while (c.beg < c.end) {
      std::size_t used = 0;
      feed_result r =
          c.parser.feed(c.buf.get() + c.beg, c.end - c.beg, used, tpl_.body, opt_.verify);
      c.beg += used;
      switch (r) {
        case feed_result::need_more:
          if (c.beg == c.end) c.beg = c.end = 0;
          return true;
        case feed_result::error:
          fail(c, c.parser.kind(), c.parser.message());
          return false;
        case feed_result::got_continue:
          ++stats_.continues;
          if (c.out == &tpl_.part1 && c.out_off == c.out->size() && !tpl_.part2.empty()) {
            c.out = &tpl_.part2;
            c.out_off = 0;
            if (!flush(c)) return false;
          } else {
            fail(c, error_kind::protocol, "unexpected 100 Continue (whole body already sent)");
            return false;
          }
          break;
        case feed_result::done:
          return complete(c);
      }
    }
    c.beg = c.end = 0;
    return true;
  }

  bool complete(connection& c) {
    const response_parser& p = c.parser;
    int st = p.status();
    if (st == 204) {
      if (!tpl_.allow_204) {
        fail(c, error_kind::status, "204 although the request did not carry Allow: 204");
        return false;
      }
    } else if (st == 200) {
      if (!p.has_body() || p.body_seen() != tpl_.body.size()) {
        fail(c, error_kind::echo_mismatch,
             "200 echoed " + std::to_string(p.body_seen()) + " body bytes, sent " +
                 std::to_string(tpl_.body.size()));
        return false;
      }
    } else {
      fail(c, error_kind::status, "unexpected status " + std::to_string(st));
      return false;
    }
    if (c.beg != c.end) {
      fail(c, error_kind::protocol, "bytes after the end of the response");
      return false;
    }
    auto now = steady::now();
    if (c.measured) {
      last_done_ = now;
      ++stats_.completed;
      if (st == 200)
        ++stats_.status_200;
      else
        ++stats_.status_204;
      stats_.bytes_echoed += p.body_seen();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.tx_start).count();
      auto units = static_cast<std::uint64_t>(ns) / 16u;
      stats_.latency_ns_div16.push_back(
          static_cast<std::uint32_t>(std::min<std::uint64_t>(units, UINT32_MAX)));
    }
    c.in_flight = false;
    c.beg = c.end = 0;
    ++c.served;
    // The server said it will close, or it answered before taking all of our body: this socket
    // cannot carry another transaction.
    bool unsent = c.out != nullptr && c.out_off < c.out->size();
    if (p.connection_close() || unsent) {
      close_fd(c);
      ++stats_.reconnects;
      if (!open(c)) return false;
    }
    start(c);
    return false;
  }

  void fail(connection& c, error_kind kind, std::string why) {
    count_error(kind, std::move(why));
    close_fd(c);
    ++stats_.reconnects;
    if (open(c)) start(c);
  }

  void count_error(error_kind kind, std::string why) {
    ++stats_.errors[static_cast<std::size_t>(kind)];
    std::lock_guard lock(shared_.report_mutex);
    if (shared_.errors_reported < 5) {
      ++shared_.errors_reported;
      std::fprintf(stderr, "icap_load: error (%s): %s\n",
                   error_names[static_cast<std::size_t>(kind)], why.c_str());
    } else if (shared_.errors_reported == 5) {
      ++shared_.errors_reported;
      std::fputs("icap_load: further errors are counted, not printed\n", stderr);
    }
  }

  const options& opt_;
  const request_template& tpl_;
  const addrinfo* addr_;
  shared_state& shared_;
  std::vector<connection> conns_;
  worker_stats stats_;
  steady::duration timeout_{};
  steady::time_point last_done_{};
  int ep_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Server CPU: utime+stime of a process tree, plus cutime+cstime (children already reaped, e.g.
// c-icap children retired during the run). Threads are included in their process's figures.

struct proc_times {
  long ppid = 0;
  std::uint64_t own = 0;       // utime + stime
  std::uint64_t children = 0;  // cutime + cstime
};

std::optional<proc_times> read_proc_stat(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t k = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (k <= 0) return std::nullopt;
  std::string_view s(buf, static_cast<std::size_t>(k));
  std::size_t rp = s.rfind(')');  // the command name may contain spaces and parentheses
  if (rp == std::string_view::npos) return std::nullopt;
  s.remove_prefix(rp + 2);
  // Fields after the name, 1-based from field 3 (state): ppid is 4, utime 14 .. cstime 17.
  std::array<std::uint64_t, 18> f{};
  int field = 3;
  while (!s.empty() && field <= 17) {
    std::size_t sp = s.find(' ');
    std::string_view tok = s.substr(0, sp);
    if (field >= 4) {
      long long v = 0;
      std::from_chars(tok.data(), tok.data() + tok.size(), v);
      f[static_cast<std::size_t>(field)] = static_cast<std::uint64_t>(std::max(v, 0LL));
    }
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
    ++field;
  }
  proc_times t;
  t.ppid = static_cast<long>(f[4]);
  t.own = f[14] + f[15];
  t.children = f[16] + f[17];
  return t;
}

// CPU microseconds consumed so far by `root` and all its descendants.
std::optional<double> tree_cpu_us(long root) {
  auto root_times = read_proc_stat(root);
  if (!root_times) return std::nullopt;
  std::unordered_map<long, proc_times> all;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      long pid = 0;
      std::string_view name = e->d_name;
      auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
      if (ec != std::errc{} || p != name.data() + name.size()) continue;
      if (auto t = read_proc_stat(pid)) all.emplace(pid, *t);
    }
    ::closedir(d);
  }
  all[root] = *root_times;
  std::uint64_t ticks = 0;
  for (const auto& [pid, t] : all) {
    // Walk up to see whether `root` is an ancestor (trees here are shallow).
    long cur = pid;
    for (int depth = 0; depth < 64 && cur > 1 && cur != root; ++depth) {
      auto it = all.find(cur);
      if (it == all.end()) break;
      cur = it->second.ppid;
    }
    if (cur == root) ticks += t.own + t.children;
  }
  return static_cast<double>(ticks) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Machine-wide busy CPU microseconds so far (all CPUs, everything but idle and iowait), so a run
// can tell how much CPU went to neither the server nor the generator (a build, another test).
std::optional<double> machine_busy_us() {
  int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[512];
  ssize_t k = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (k <= 0) return std::nullopt;
  std::string_view s(buf, static_cast<std::size_t>(k));
  if (s.substr(0, 4) != "cpu ") return std::nullopt;
  s = s.substr(4, s.find('\n') - 4);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  std::uint64_t busy = 0;
  for (int field = 0; field < 8 && !s.empty(); ++field) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{}) break;
    s.remove_prefix(static_cast<std::size_t>(p - s.data()));
    if (field != 3 && field != 4) busy += v;
  }
  return static_cast<double>(busy) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

const char* mode_name(run_mode m) {
  switch (m) {
    case run_mode::reqmod_preview:
      return "reqmod-preview";
    case run_mode::reqmod:
      return "reqmod";
    case run_mode::respmod:
      return "respmod";
  }
  return "?";
}

double percentile_us(const std::vector<std::uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  auto idx = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(idx, sorted.size() - 1)]) * 16.0 / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  options opt = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addr = nullptr;
  if (int rc = ::getaddrinfo(opt.host.c_str(), opt.port.c_str(), &hints, &addr); rc != 0) {
    std::fprintf(stderr, "icap_load: %s:%s: %s\n", opt.host.c_str(), opt.port.c_str(),
                 gai_strerror(rc));
    return 2;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addr_guard(addr, &::freeaddrinfo);

  const request_template tpl = build_request(opt);
  shared_state shared;
  shared.budget.store(
      static_cast<std::int64_t>(std::min<std::uint64_t>(opt.transactions, INT64_MAX)));
  shared.current.store(opt.warmup_s > 0 ? phase::warmup : phase::measure);

  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < opt.threads; ++i) {
    unsigned n = opt.connections / opt.threads + (i < opt.connections % opt.threads ? 1u : 0u);
    workers.push_back(std::make_unique<worker>(opt, tpl, addr, shared, n));
  }

  // Measurement window: CPU samples bracket exactly the measured phase plus the final drain.
  auto sleep_until = [&](steady::time_point t) {
    while (steady::now() < t && shared.current.load() != phase::stop)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  };
  auto to_duration = [](double s) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
  };

  std::optional<double> cpu_before;
  double self_before = 0;
  steady::time_point t0;
  std::vector<std::thread> threads;
  std::optional<double> busy_before;
  if (opt.warmup_s <= 0) {
    if (opt.server_pid > 0) cpu_before = tree_cpu_us(opt.server_pid);
    busy_before = machine_busy_us();
    self_before = self_cpu_us();
    t0 = steady::now();
  }
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  if (opt.warmup_s > 0) {
    sleep_until(steady::now() + to_duration(opt.warmup_s));
    if (opt.server_pid > 0) cpu_before = tree_cpu_us(opt.server_pid);
    busy_before = machine_busy_us();
    self_before = self_cpu_us();
    t0 = steady::now();
    phase expected = phase::warmup;
    shared.current.compare_exchange_strong(expected, phase::measure);
  }
  sleep_until(t0 + to_duration(opt.duration_s));
  shared.current.store(phase::stop);
  for (auto& t : threads) t.join();
  // The window ends when the last measured transaction completed, not when the drain was noticed.
  steady::time_point t1{};
  for (auto& w : workers) t1 = std::max(t1, w->last_done());
  if (t1 <= t0) t1 = steady::now();
  std::optional<double> cpu_after;
  if (opt.server_pid > 0) cpu_after = tree_cpu_us(opt.server_pid);
  double self_after = self_cpu_us();
  std::optional<double> busy_after = machine_busy_us();
  double wall_after = std::chrono::duration<double>(steady::now() - t0).count();

  worker_stats total;
  std::vector<std::uint32_t> lat;
  for (auto& w : workers) {
    auto& s = w->stats();
    total.completed += s.completed;
    total.status_200 += s.status_200;
    total.status_204 += s.status_204;
    total.continues += s.continues;
    total.reconnects += s.reconnects;
    total.retries += s.retries;
    total.bytes_echoed += s.bytes_echoed;
    for (std::size_t i = 0; i < total.errors.size(); ++i) total.errors[i] += s.errors[i];
    lat.insert(lat.end(), s.latency_ns_div16.begin(), s.latency_ns_div16.end());
  }
  std::sort(lat.begin(), lat.end());
  std::uint64_t errors = 0;
  for (auto e : total.errors) errors += e;

  double elapsed = std::chrono::duration<double>(t1 - t0).count();
  double tps = elapsed > 0 ? static_cast<double>(total.completed) / elapsed : 0.0;
  double p50 = percentile_us(lat, 0.50), p90 = percentile_us(lat, 0.90),
         p99 = percentile_us(lat, 0.99);
  double maxv = lat.empty() ? 0.0 : static_cast<double>(lat.back()) * 16.0 / 1000.0;
  double client_cpu = self_after - self_before;
  double per_tx = total.completed ? 1.0 / static_cast<double>(total.completed) : 0.0;
  std::optional<double> server_cpu;
  if (cpu_before && cpu_after) server_cpu = *cpu_after - *cpu_before;
  // Share of the machine's capacity used by neither the server tree nor this generator during
  // the window; more than a few percent means something else was running and the row is suspect.
  std::optional<double> other_pct;
  if (busy_before && busy_after && server_cpu && wall_after > 0) {
    double other = (*busy_after - *busy_before) - *server_cpu - client_cpu;
    double capacity = wall_after * 1e6 * static_cast<double>(std::thread::hardware_concurrency());
    other_pct = std::max(0.0, 100.0 * other / capacity);
  }

  if (opt.json) {
    std::printf(
        "{\"mode\":\"%s\",\"host\":\"%s\",\"port\":\"%s\",\"service\":\"%s\","
        "\"connections\":%u,\"threads\":%u,\"body_bytes\":%zu,"
        "\"elapsed_s\":%.6f,\"transactions\":%llu,\"tx_per_s\":%.3f,"
        "\"status_200\":%llu,\"status_204\":%llu,\"continues\":%llu,"
        "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f,"
        "\"errors\":%llu,\"error_kinds\":{",
        mode_name(opt.mode), opt.host.c_str(), opt.port.c_str(), opt.service.c_str(),
        opt.connections, opt.threads, tpl.body.size(), elapsed,
        static_cast<unsigned long long>(total.completed), tps,
        static_cast<unsigned long long>(total.status_200),
        static_cast<unsigned long long>(total.status_204),
        static_cast<unsigned long long>(total.continues), p50, p90, p99, maxv,
        static_cast<unsigned long long>(errors));
    for (std::size_t i = 0; i < total.errors.size(); ++i)
      std::printf("%s\"%s\":%llu", i ? "," : "", error_names[i],
                  static_cast<unsigned long long>(total.errors[i]));
    std::printf(
        "},\"reconnects\":%llu,\"retries\":%llu,\"bytes_echoed\":%llu,"
        "\"client_cpu_us_per_tx\":%.3f",
        static_cast<unsigned long long>(total.reconnects),
        static_cast<unsigned long long>(total.retries),
        static_cast<unsigned long long>(total.bytes_echoed), client_cpu * per_tx);
    if (server_cpu)
      std::printf(",\"server_pid\":%ld,\"server_cpu_us\":%.0f,\"server_cpu_us_per_tx\":%.3f",
                  opt.server_pid, *server_cpu, *server_cpu * per_tx);
    else
      std::printf(",\"server_cpu_us\":null,\"server_cpu_us_per_tx\":null");
    if (other_pct) std::printf(",\"other_cpu_pct\":%.1f", *other_pct);
    std::printf("}\n");
  } else {
    std::printf("icap_load %s icap://%s:%s%s  connections=%u threads=%u body=%zu bytes\n",
                mode_name(opt.mode), opt.host.c_str(), opt.port.c_str(), opt.service.c_str(),
                opt.connections, opt.threads, tpl.body.size());
    std::printf("  transactions %llu in %.3f s = %.1f tx/s  (200: %llu, 204: %llu, 100: %llu)\n",
                static_cast<unsigned long long>(total.completed), elapsed, tps,
                static_cast<unsigned long long>(total.status_200),
                static_cast<unsigned long long>(total.status_204),
                static_cast<unsigned long long>(total.continues));
    std::printf("  latency us     p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", p50, p90, p99, maxv);
    std::printf("  errors %llu", static_cast<unsigned long long>(errors));
    for (std::size_t i = 0; i < total.errors.size(); ++i)
      if (total.errors[i])
        std::printf("  %s=%llu", error_names[i], static_cast<unsigned long long>(total.errors[i]));
    std::printf("  reconnects %llu  retries %llu\n",
                static_cast<unsigned long long>(total.reconnects),
                static_cast<unsigned long long>(total.retries));
    std::printf("  bytes echoed   %llu (%.1f MiB/s)\n",
                static_cast<unsigned long long>(total.bytes_echoed),
                elapsed > 0 ? static_cast<double>(total.bytes_echoed) / elapsed / 1048576.0 : 0.0);
    std::printf("  client cpu     %.2f us/tx\n", client_cpu * per_tx);
    if (server_cpu)
      std::printf("  server cpu     %.2f us/tx (pid %ld tree, %.0f us total)\n",
                  *server_cpu * per_tx, opt.server_pid, *server_cpu);
    if (other_pct)
      std::printf("  other cpu      %.1f%% of the machine (neither server nor generator)\n",
                  *other_pct);
  }
  if (total.completed == 0) return 3;
  return errors ? 1 : 0;
}
