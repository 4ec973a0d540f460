// The app table: one row per signal that names an app whose content imcap cannot decode.
// Every row says where the signal comes from: [spec] a published specification or the app's
// own source/configuration, [obs] observed client behaviour or widely published block lists
// (liable to change; re-check against captures).
//
// Matching is on the request head only (what an ICAP preview gives): every condition a row sets
// must hold; the first matching row wins, so rows with more conditions come first. Cost: one
// hash lookup per domain suffix of the host, one pass over the User-Agent's word starts, then a
// scan of the rows with those answers in hand; header-name rows walk the header list once.

#include "modules/apps/classify_app.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "modules/wire.hpp"

namespace imcap::modules {

namespace {

struct app_rule {
  std::string_view app{};
  app_category category = app_category::im;
  std::string_view host{};           // host or a parent domain (wire::host_under)
  std::string_view path{};           // exact path
  std::string_view path_contains{};  // substring of the path
  std::string_view path_suffix{};    // path ends with this
  std::string_view query_has{};      // substring of the raw query
  std::string_view ua_token{};       // User-Agent contains this at a word start (case-sensitive)
  std::string_view header_prefix{};  // some header name starts with this (case-insensitive)
  std::string_view method{};         // exact method
  std::string_view reason{};         // reported in app_match::reason
};

using c = app_category;

// clang-format off
constexpr std::array rules{
    // --- P2P file sharing -------------------------------------------------------------------
    // [spec] BEP 3: a tracker announce is an HTTP GET whose query carries info_hash, peer_id,
    // port, uploaded, downloaded, left. Paths vary (/announce, /announce.php, /<passkey>/announce).
    app_rule{.app = "bittorrent", .category = c::p2p, .path_contains = "announce",
             .query_has = "info_hash=", .reason = "url"},
    // [spec] BEP 48: tracker scrape, GET .../scrape?info_hash=...
    app_rule{.app = "bittorrent", .category = c::p2p, .path_contains = "scrape",
             .query_has = "info_hash=", .reason = "url"},
    // [obs] BitTorrent clients name themselves in the User-Agent of tracker and web-seed requests.
    app_rule{.app = "bittorrent", .category = c::p2p, .ua_token = "uTorrent", .reason = "user-agent"},
    app_rule{.app = "bittorrent", .category = c::p2p, .ua_token = "BitTorrent/", .reason = "user-agent"},
    app_rule{.app = "bittorrent", .category = c::p2p, .ua_token = "Transmission/", .reason = "user-agent"},
    app_rule{.app = "bittorrent", .category = c::p2p, .ua_token = "qBittorrent/", .reason = "user-agent"},
    app_rule{.app = "bittorrent", .category = c::p2p, .ua_token = "Azureus", .reason = "user-agent"},
    // [obs] FastTrack (KaZaA, KaZaA Lite, Grokster) HTTP transfers: User-Agent "KazaaClient ..."
    // and the X-Kazaa-Username / -Network / -IP / -SupernodeIP request headers.
    app_rule{.app = "kazaa", .category = c::p2p, .ua_token = "KazaaClient", .reason = "user-agent"},
    app_rule{.app = "kazaa", .category = c::p2p, .header_prefix = "X-Kazaa-", .reason = "header"},
    // [obs] Sharman's client update and ad hosts.
    app_rule{.app = "kazaa", .category = c::p2p, .host = "kazaa.com", .reason = "host"},
    // [spec] Gnutella 0.6 / HUGE transfers carry X-Gnutella-Content-URN and
    // X-Gnutella-Alternate-Location (and X-Gnutella-* companions) on HTTP GETs.
    app_rule{.app = "gnutella", .category = c::p2p, .header_prefix = "X-Gnutella", .reason = "header"},
    // [obs] Gnutella servents' User-Agents on transfers and GWebCache requests.
    app_rule{.app = "gnutella", .category = c::p2p, .ua_token = "LimeWire", .reason = "user-agent"},
    app_rule{.app = "gnutella", .category = c::p2p, .ua_token = "BearShare", .reason = "user-agent"},
    app_rule{.app = "gnutella", .category = c::p2p, .ua_token = "Shareaza", .reason = "user-agent"},
    app_rule{.app = "gnutella", .category = c::p2p, .ua_token = "Morpheus", .reason = "user-agent"},
    // [obs] eDonkey2000 / eMule: the server list every client downloads (server.met) and the
    // vendors' sites that host client updates and server lists.
    app_rule{.app = "edonkey", .category = c::p2p, .path_suffix = "/server.met", .reason = "url"},
    app_rule{.app = "edonkey", .category = c::p2p, .host = "emule-project.net", .reason = "host"},
    app_rule{.app = "edonkey", .category = c::p2p, .host = "edonkey2000.com", .reason = "host"},
    app_rule{.app = "edonkey", .category = c::p2p, .ua_token = "eMule", .reason = "user-agent"},

    // --- Adware and spyware beacons ---------------------------------------------------------
    // [obs] Gator / GAIN (later Claria): the client's "Gator/x.y" User-Agent and its beacon and
    // ad hosts, as listed by 2003-2006 anti-spyware tools. The token must start a word, so a
    // "Navigator/" browser never matches.
    app_rule{.app = "gator", .category = c::spyware, .ua_token = "Gator", .reason = "user-agent"},
    app_rule{.app = "gator", .category = c::spyware, .host = "gator.com", .reason = "host"},
    app_rule{.app = "gator", .category = c::spyware, .host = "claria.com", .reason = "host"},
    // [obs] Other adware of the same era, by the vendor domains their clients beacon to (the
    // same anti-spyware host lists): WhenU SaveNow, 180solutions / Zango, Hotbar, BonziBuddy,
    // Cydoor.
    app_rule{.app = "whenu", .category = c::spyware, .host = "whenu.com", .reason = "host"},
    app_rule{.app = "zango", .category = c::spyware, .host = "180solutions.com", .reason = "host"},
    app_rule{.app = "zango", .category = c::spyware, .host = "zango.com", .reason = "host"},
    app_rule{.app = "hotbar", .category = c::spyware, .host = "hotbar.com", .reason = "host"},
    app_rule{.app = "bonzibuddy", .category = c::spyware, .host = "bonzi.com", .reason = "host"},
    app_rule{.app = "cydoor", .category = c::spyware, .host = "cydoor.com", .reason = "host"},

    // --- End-to-end encrypted chat ----------------------------------------------------------
    // [obs] WhatsApp Web's origin, and the clients' media and chat hosts (mmg.whatsapp.net ...);
    // messages travel Signal-protocol encrypted over a WebSocket (im-transports §0.6).
    app_rule{.app = "whatsapp-web", .category = c::im_encrypted, .host = "web.whatsapp.com", .reason = "host"},
    app_rule{.app = "whatsapp-web", .category = c::im_encrypted, .host = "whatsapp.net", .reason = "host"},
    // [obs] Telegram Web (web.telegram.org, its DC hosts *.web.telegram.org) speaks MTProto over
    // HTTP POST to /apiw1 (also /apiw, /apiw_test1 on test DCs), even to bare DC addresses.
    app_rule{.app = "telegram-web", .category = c::im_encrypted, .host = "web.telegram.org", .reason = "host"},
    app_rule{.app = "telegram-web", .category = c::im_encrypted, .path = "/apiw1", .method = "POST", .reason = "url"},
    app_rule{.app = "telegram-web", .category = c::im_encrypted, .path = "/apiw", .method = "POST", .reason = "url"},
    app_rule{.app = "telegram-web", .category = c::im_encrypted, .path = "/apiw_test1", .method = "POST", .reason = "url"},
    // [spec] Signal's service hosts as configured in the Signal clients' build configuration
    // (chat, storage, cdn, cdn2, cdn3, cdsi, svr2, contentproxy), the legacy TextSecure
    // service, and the desktop client's "Signal-Desktop/<version>" User-Agent.
    app_rule{.app = "signal", .category = c::voice_video, .host = "voip.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "chat.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "storage.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "cdn.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "cdn2.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "cdn3.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "cdsi.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "svr2.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "contentproxy.signal.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .host = "textsecure-service.whispersystems.org", .reason = "host"},
    app_rule{.app = "signal", .category = c::im_encrypted, .ua_token = "Signal-Desktop/", .reason = "user-agent"},

    // --- Calls ------------------------------------------------------------------------------
    // [obs] Teams / Skype calling: Trouter, the push channel that rings incoming calls and
    // meeting notifications (go.trouter.teams.microsoft.com, *.trouter.skype.com); the call
    // signalling flight proxy (api.flightproxy.teams.microsoft.com / .skype.com); the transport
    // relays media falls back to over TCP/HTTPS (worldaz.tr.teams.microsoft.com and regional
    // *.tr.teams.microsoft.com). Chat itself (chatsvc) is decoded, not listed here.
    app_rule{.app = "teams-calls", .category = c::voice_video, .host = "trouter.teams.microsoft.com", .reason = "host"},
    app_rule{.app = "teams-calls", .category = c::voice_video, .host = "flightproxy.teams.microsoft.com", .reason = "host"},
    app_rule{.app = "teams-calls", .category = c::voice_video, .host = "tr.teams.microsoft.com", .reason = "host"},
    app_rule{.app = "skype-calls", .category = c::voice_video, .host = "trouter.skype.com", .reason = "host"},
    app_rule{.app = "skype-calls", .category = c::voice_video, .host = "flightproxy.skype.com", .reason = "host"},
};
// clang-format on

// `token` occurs in `ua` at a position not preceded by a letter or digit.
bool has_token(std::string_view ua, std::string_view token) noexcept {
  std::size_t from = 0;
  while (from < ua.size()) {
    const std::size_t at = ua.find(token, from);
    if (at == std::string_view::npos) return false;
    if (at == 0) return true;
    const char before = ua[at - 1];
    const bool alnum = (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z') ||
                       (before >= '0' && before <= '9');
    if (!alnum) return true;
    from = at + 1;
  }
  return false;
}

bool has_header_prefix(const header_fields& h, std::string_view prefix) noexcept {
  for (const auto& f : h.fields())
    if (f.name.size() >= prefix.size() &&
        ascii_iequals(std::string_view(f.name).substr(0, prefix.size()), prefix))
      return true;
  return false;
}

bool matches(const app_rule& r, const request_head& h, std::string_view ua) noexcept {
  if (!r.method.empty() && h.method != r.method) return false;
  if (!r.host.empty() && !wire::host_under(h.host, r.host)) return false;
  if (!r.path.empty() && h.path != r.path) return false;
  if (!r.path_contains.empty() && h.path.find(r.path_contains) == std::string::npos) return false;
  if (!r.path_suffix.empty() && !wire::ends_with(h.path, r.path_suffix)) return false;
  if (!r.query_has.empty() && h.query.find(r.query_has) == std::string::npos) return false;
  if (!r.ua_token.empty() && !has_token(ua, r.ua_token)) return false;
  if (!r.header_prefix.empty() && !has_header_prefix(h.headers, r.header_prefix)) return false;
  return true;
}

// The fast path computes the two costly conditions once per request instead of once per row:
// which rows' host condition holds (one hash lookup per domain suffix of the host) and which
// rows' User-Agent token occurs (one pass over the word starts of the User-Agent). Rows are
// then checked in table order as before, so the first matching row still wins.
using row_mask = std::uint64_t;
static_assert(rules.size() <= 64, "row_mask holds one bit per row");

constexpr row_mask bit(std::size_t row) noexcept {
  return row_mask{1} << row;
}

struct row_index {
  std::unordered_map<std::string_view, row_mask> by_domain;  // host rows by their domain
  std::array<std::vector<std::size_t>, 256> ua_by_first;     // ua_token rows by first byte
  row_mask unkeyed = 0;  // rows with neither a host nor a ua_token condition
};

const row_index& index() {
  static const row_index idx = [] {
    row_index i;
    for (std::size_t r = 0; r < rules.size(); ++r) {
      if (!rules[r].host.empty()) i.by_domain[rules[r].host] |= bit(r);
      if (!rules[r].ua_token.empty())
        i.ua_by_first[static_cast<unsigned char>(rules[r].ua_token.front())].push_back(r);
      if (rules[r].host.empty() && rules[r].ua_token.empty()) i.unkeyed |= bit(r);
    }
    return i;
  }();
  return idx;
}

row_mask host_rows(std::string_view host) {
  const auto& idx = index();
  row_mask m = 0;
  // host_under(host, d) holds for d == host and for every suffix after a '.'.
  while (!host.empty()) {
    if (auto it = idx.by_domain.find(host); it != idx.by_domain.end()) m |= it->second;
    auto dot = host.find('.');
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return m;
}

constexpr auto alnum_table = [] {
  std::array<bool, 256> t{};
  for (int ch = '0'; ch <= '9'; ++ch) t[static_cast<std::size_t>(ch)] = true;
  for (int ch = 'a'; ch <= 'z'; ++ch) t[static_cast<std::size_t>(ch)] = true;
  for (int ch = 'A'; ch <= 'Z'; ++ch) t[static_cast<std::size_t>(ch)] = true;
  return t;
}();

bool alnum(char ch) noexcept {
  return alnum_table[static_cast<unsigned char>(ch)];
}

row_mask ua_rows(std::string_view ua) {
  const auto& idx = index();
  row_mask m = 0;
  for (std::size_t at = 0; at < ua.size(); ++at) {
    if (at > 0 && alnum(ua[at - 1])) continue;  // a token must start a word
    for (std::size_t r : idx.ua_by_first[static_cast<unsigned char>(ua[at])])
      if (ua.substr(at).starts_with(rules[r].ua_token)) m |= bit(r);
  }
  return m;
}

}  // namespace

std::string_view to_string(app_category c) noexcept {
  // clang-format off
  switch (c) {
    case app_category::im_encrypted: return "im_encrypted";
    case app_category::voice_video: return "voice_video";
    case app_category::p2p: return "p2p";
    case app_category::spyware: return "spyware";
    case app_category::im: return "im";
  }
  // clang-format on
  return "im";
}

std::optional<app_match> classify_app(const request_head& head) noexcept {
  const std::string_view ua = head.headers.get("user-agent").value_or(std::string_view{});
  // The last host and User-Agent this thread saw, with their answers: a client's requests
  // repeat both (the same browser, page assets from the same site), and comparing is cheaper
  // than looking up again. Exact keys, so the answer is always the one a lookup gives.
  struct memo {
    std::string key;
    row_mask rows = 0;
    bool set = false;
  };
  thread_local memo last_host, last_ua;
  auto remembered = [](memo& m, std::string_view key, row_mask (*compute)(std::string_view)) {
    if (!m.set || m.key != key) {
      m.rows = compute(key);
      m.key.assign(key);
      m.set = true;
    }
    return m.rows;
  };
  const row_mask hosts = remembered(last_host, head.host, &host_rows);
  const row_mask uas = remembered(last_ua, ua, &ua_rows);
  // A row whose host or token condition failed cannot match: only the others are visited, in
  // table order (lowest bit first).
  for (row_mask todo = hosts | uas | index().unkeyed; todo != 0; todo &= todo - 1) {
    const auto i = static_cast<std::size_t>(std::countr_zero(todo));
    const app_rule& r = rules[i];
    if (!r.method.empty() && head.method != r.method) continue;
    if (!r.host.empty() && (hosts & bit(i)) == 0) continue;
    if (!r.path.empty() && head.path != r.path) continue;
    if (!r.path_contains.empty() && head.path.find(r.path_contains) == std::string::npos) continue;
    if (!r.path_suffix.empty() && !wire::ends_with(head.path, r.path_suffix)) continue;
    if (!r.query_has.empty() && head.query.find(r.query_has) == std::string::npos) continue;
    if (!r.ua_token.empty() && (uas & bit(i)) == 0) continue;
    if (!r.header_prefix.empty() && !has_header_prefix(head.headers, r.header_prefix)) continue;
    return app_match{r.app, r.category, r.reason};
  }
  return std::nullopt;
}

std::optional<app_match> classify_app_reference(const request_head& head) noexcept {
  const std::string_view ua = head.headers.get("user-agent").value_or(std::string_view{});
  for (const auto& r : rules)
    if (matches(r, head, ua)) return app_match{r.app, r.category, r.reason};
  return std::nullopt;
}

chat_event make_app_event(const app_match& m, const exchange& x) {
  chat_event e;
  e.kind = event_kind::app;
  e.app = m.app;
  e.transport = "app-classifier";
  e.direction = direction::outbound;
  e.sender = wire::proxy_party(x);
  e.attributes.emplace_back("category", to_string(m.category));
  e.attributes.emplace_back("reason", m.reason);
  if (!x.request.head.host.empty()) e.attributes.emplace_back("host", x.request.head.host);
  if (!x.client_ip.empty()) e.attributes.emplace_back("client_ip", x.client_ip);
  return e;
}

}  // namespace imcap::modules
