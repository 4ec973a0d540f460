#include "archive/codec.hpp"

#include <sodium.h>

#include "archive/lmdb.hpp"

namespace imcap::archive::codec {

namespace {

class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}
  void u(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void i(std::int64_t v) {
    const auto z = static_cast<std::uint64_t>(v);
    u((z << 1) ^ (v < 0 ? ~std::uint64_t{0} : 0));
  }
  void b(bool v) { out_.push_back(v ? '\1' : '\0'); }
  void s(std::string_view v) {
    u(v.size());
    out_.append(v);
  }
  void pairs(const std::vector<std::pair<std::string, std::string>>& v) {
    u(v.size());
    for (const auto& [a, c] : v) {
      s(a);
      s(c);
    }
  }

 private:
  std::string& out_;
};

// Every read checks the remaining input; after the first failure all reads return defaults and
// ok() is false.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  bool ok() const noexcept { return ok_; }
  bool done() const noexcept { return ok_ && in_.empty(); }
  // Only the writer's spelling is accepted, so that one record has one encoding: no padding
  // (a last group of zero after the first) and no bits past 64 (the tenth group is 0 or 1).
  std::uint64_t u() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return bad();
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      if (shift == 63 && byte > 1) return bad();
      v |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80u) == 0) return byte == 0 && shift > 0 ? bad() : v;
    }
    return bad();
  }
  std::int64_t i() {
    const std::uint64_t z = u();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  bool b() {
    if (in_.empty()) return bad() != 0;
    const char c = in_.front();
    in_.remove_prefix(1);
    if (c != '\0' && c != '\1') return bad() != 0;
    return c == '\1';
  }
  std::string s() {
    const std::uint64_t n = u();
    if (!ok_ || n > in_.size()) return bad(), std::string();
    std::string v(in_.substr(0, static_cast<std::size_t>(n)));
    in_.remove_prefix(static_cast<std::size_t>(n));
    return v;
  }
  // A count of items each at least `min_bytes` long: bounded by the input left.
  std::size_t count(std::size_t min_bytes) {
    const std::uint64_t n = u();
    if (!ok_ || n > in_.size() / min_bytes) return static_cast<std::size_t>(bad());
    return static_cast<std::size_t>(n);
  }
  std::vector<std::pair<std::string, std::string>> pairs() {
    std::vector<std::pair<std::string, std::string>> v;
    const std::size_t n = count(2);
    for (std::size_t k = 0; k < n && ok_; ++k) {
      auto a = s();
      auto c = s();
      v.emplace_back(std::move(a), std::move(c));
    }
    return v;
  }
  std::uint8_t byte() {
    if (in_.empty()) return static_cast<std::uint8_t>(bad());
    const auto c = static_cast<std::uint8_t>(in_.front());
    in_.remove_prefix(1);
    return c;
  }

 private:
  std::uint64_t bad() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::string encode_event(const event_record& e) {
  std::string out;
  out.reserve(256 + e.text.size() + e.html.size());
  out.push_back(static_cast<char>(event_format));
  writer w(out);
  w.u(e.id);
  w.i(e.seen_us);
  w.s(e.kind);
  w.s(e.app);
  w.s(e.transport);
  w.s(e.direction);
  w.s(e.session_key);
  w.s(e.conversation_id);
  w.s(e.sender_id);
  w.s(e.sender_name);
  w.s(e.sender_source);
  w.pairs(e.recipients);
  w.s(e.text);
  w.s(e.html);
  w.s(e.client_msg_id);
  w.s(e.server_msg_id);
  w.s(e.timestamp);
  w.b(e.encrypted);
  w.pairs(e.attributes);
  w.u(e.attachments.size());
  for (const auto& a : e.attachments) {
    w.s(a.name);
    w.s(a.media_type);
    w.s(a.true_type);
    w.b(a.size.has_value());
    if (a.size) w.u(*a.size);
    w.s(a.sha256);
    w.s(a.ref);
    w.u(a.virus_names.size());
    for (const auto& v : a.virus_names) w.s(v);
    w.b(a.content_stored);
  }
  w.s(e.proxy_user);
  w.u(e.proxy_groups.size());
  for (const auto& g : e.proxy_groups) w.s(g);
  w.s(e.client_ip);
  w.s(e.url);
  w.s(e.user_agent);
  w.u(e.icap_transaction);
  w.s(e.verdict);
  w.u(e.hits.size());
  for (const auto& h : e.hits) {
    w.s(h.rule_id);
    w.s(h.pack);
    w.s(h.pack_version);
    w.s(h.action);
    w.s(h.severity);
    w.s(h.part);
    w.u(h.attachment);
    w.u(h.begin);
    w.u(h.end);
    w.b(h.monitor);
    w.s(h.message);
    w.s(h.detail);
  }
  w.s(e.pack_version);
  w.s(e.quarantine);
  return out;
}

std::error_code decode_event(std::string_view bytes, event_record& out) {
  reader r(bytes);
  if (r.byte() != event_format) return errc::corrupt;
  event_record e;
  e.id = r.u();
  e.seen_us = r.i();
  e.kind = r.s();
  e.app = r.s();
  e.transport = r.s();
  e.direction = r.s();
  e.session_key = r.s();
  e.conversation_id = r.s();
  e.sender_id = r.s();
  e.sender_name = r.s();
  e.sender_source = r.s();
  e.recipients = r.pairs();
  e.text = r.s();
  e.html = r.s();
  e.client_msg_id = r.s();
  e.server_msg_id = r.s();
  e.timestamp = r.s();
  e.encrypted = r.b();
  e.attributes = r.pairs();
  const std::size_t na = r.count(10);
  for (std::size_t k = 0; k < na && r.ok(); ++k) {
    attachment_record a;
    a.name = r.s();
    a.media_type = r.s();
    a.true_type = r.s();
    if (r.b()) a.size = r.u();
    a.sha256 = r.s();
    a.ref = r.s();
    const std::size_t nv = r.count(1);
    for (std::size_t v = 0; v < nv && r.ok(); ++v) a.virus_names.push_back(r.s());
    a.content_stored = r.b();
    e.attachments.push_back(std::move(a));
  }
  e.proxy_user = r.s();
  const std::size_t ng = r.count(1);
  for (std::size_t g = 0; g < ng && r.ok(); ++g) e.proxy_groups.push_back(r.s());
  e.client_ip = r.s();
  e.url = r.s();
  e.user_agent = r.s();
  e.icap_transaction = r.u();
  e.verdict = r.s();
  const std::size_t nh = r.count(13);
  for (std::size_t k = 0; k < nh && r.ok(); ++k) {
    rule_hit h;
    h.rule_id = r.s();
    h.pack = r.s();
    h.pack_version = r.s();
    h.action = r.s();
    h.severity = r.s();
    h.part = r.s();
    const std::uint64_t att = r.u();
    if (att > 0xffffffffu) return errc::corrupt;
    h.attachment = static_cast<std::uint32_t>(att);
    h.begin = r.u();
    h.end = r.u();
    h.monitor = r.b();
    h.message = r.s();
    h.detail = r.s();
    e.hits.push_back(std::move(h));
  }
  e.pack_version = r.s();
  e.quarantine = r.s();
  if (!r.done()) return errc::corrupt;
  out = std::move(e);
  return {};
}

std::string encode_audit(const audit_entry& a) {
  std::string out;
  out.push_back(static_cast<char>(audit_format));
  writer w(out);
  w.u(a.id);
  w.i(a.at_us);
  w.s(a.actor);
  w.s(a.action);
  w.s(a.target);
  w.s(a.reason);
  return out;
}

std::error_code decode_audit(std::string_view bytes, audit_entry& out) {
  reader r(bytes);
  if (r.byte() != audit_format) return errc::corrupt;
  audit_entry a;
  a.id = r.u();
  a.at_us = r.i();
  a.actor = r.s();
  a.action = r.s();
  a.target = r.s();
  a.reason = r.s();
  if (!r.done()) return errc::corrupt;
  out = std::move(a);
  return {};
}

std::string sha256_pair(std::string_view a, std::string_view b) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  std::string out(hash_size, '\0');
  crypto_hash_sha256_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string sha256(std::string_view bytes) {
  return sha256_pair(bytes, {});
}

std::string to_hex(std::string_view raw) {
  std::string out(raw.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  out.pop_back();
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  out.assign(hex.size() / 2, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      end != hex.data() + hex.size()) {
    out.clear();
    return false;
  }
  out.resize(len);
  return true;
}

void append_part(std::string& key, std::string_view value) {
  constexpr std::size_t max_plain = 100;  // two escaped parts + id stay under 511 bytes
  if (value.size() > max_plain) {
    key.push_back('H');
    key += sha256(value);
  } else {
    key.push_back('V');
    for (char c : value) {
      key.push_back(c);
      if (c == '\0') key.push_back('\xff');
    }
  }
  key.push_back('\0');
  key.push_back('\1');
}

void append_time(std::string& key, std::int64_t us) {
  lmdb::put_be64(key, static_cast<std::uint64_t>(us) ^ (std::uint64_t{1} << 63));
}

std::int64_t read_time(std::string_view key8) noexcept {
  return static_cast<std::int64_t>(lmdb::get_be64(key8) ^ (std::uint64_t{1} << 63));
}

}  // namespace imcap::archive::codec
