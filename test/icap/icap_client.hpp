#pragma once
// A small blocking ICAP client for server tests: POSIX sockets on loopback, a receive timeout
// on every read so a broken server fails the test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace imcap::test {

struct icap_response {
  int status = 0;
  std::string head;                            // ICAP status line + headers
  std::map<std::string, std::string> headers;  // lower-case names
  std::string req_head, res_head;              // encapsulated heads
  std::string body;                            // de-chunked body
  std::string last_chunk_ext;                  // extensions of the 0 chunk (use-original-body)
  bool has_body = false;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class icap_client {
 public:
  explicit icap_client(std::uint16_t port, int timeout_ms = 10000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
  }
  ~icap_client() { ::close(fd_); }
  icap_client(const icap_client&) = delete;
  icap_client& operator=(const icap_client&) = delete;

  void send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<std::size_t>(n);
    }
  }

  // True when the server closed the connection (EOF) within the timeout.
  bool closed_by_peer() {
    if (!buf_.empty()) return false;
    char c;
    auto n = ::recv(fd_, &c, 1, 0);
    if (n == 1) buf_.push_back(c);
    return n == 0;
  }

  icap_response read_response() {
    icap_response r;
    r.head = read_until("\r\n\r\n");
    auto sp = r.head.find(' ');
    std::from_chars(r.head.data() + sp + 1, r.head.data() + sp + 4, r.status);
    std::size_t pos = r.head.find("\r\n") + 2;
    while (pos < r.head.size() - 2) {
      auto eol = r.head.find("\r\n", pos);
      auto line = r.head.substr(pos, eol - pos);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = eol + 2;
    }
    auto enc = r.header("encapsulated");
    if (enc.empty()) return r;
    // Entries "name=offset" in order; the last one marks the body.
    std::vector<std::pair<std::string, std::size_t>> entries;
    std::size_t i = 0;
    while (i < enc.size()) {
      auto comma = enc.find(',', i);
      auto item = enc.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      while (!item.empty() && item.front() == ' ') item.erase(0, 1);
      auto eq = item.find('=');
      entries.emplace_back(item.substr(0, eq), std::stoul(item.substr(eq + 1)));
      if (comma == std::string::npos) break;
      i = comma + 1;
    }
    auto heads = read_exact(entries.back().second);
    for (std::size_t k = 0; k + 1 < entries.size(); ++k) {
      auto part = heads.substr(entries[k].second, entries[k + 1].second - entries[k].second);
      if (entries[k].first == "req-hdr")
        r.req_head = part;
      else
        r.res_head = part;
    }
    auto last = entries.back().first;
    if (last == "null-body" || last == "opt-body") return r;
    r.has_body = true;
    while (true) {
      auto line = read_until("\r\n");
      line.resize(line.size() - 2);
      auto semi = line.find(';');
      auto size = std::stoul(line.substr(0, semi), nullptr, 16);
      if (size == 0) {
        if (semi != std::string::npos) r.last_chunk_ext = line.substr(semi + 1);
        auto trailer = read_until("\r\n");
        if (trailer != "\r\n") throw std::runtime_error("unexpected trailer: " + trailer);
        return r;
      }
      r.body += read_exact(size);
      if (read_exact(2) != "\r\n") throw std::runtime_error("bad chunk end");
    }
  }

 private:
  void fill() {
    char tmp[65536];
    auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error(n == 0 ? "connection closed" : "receive timed out");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
  std::string read_until(const std::string& delim) {
    while (true) {
      auto pos = buf_.find(delim);
      if (pos != std::string::npos) {
        auto out = buf_.substr(0, pos + delim.size());
        buf_.erase(0, pos + delim.size());
        return out;
      }
      fill();
    }
  }
  std::string read_exact(std::size_t n) {
    while (buf_.size() < n) fill();
    auto out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  int fd_ = -1;
  std::string buf_;
};

}  // namespace imcap::test
