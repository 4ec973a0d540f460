#pragma once
// App identification without content: what cannot be decoded (end-to-end encrypted web
// clients, calls, the P2P and spyware "greynet") is still named, from host, URL and
// User-Agent alone, so policy can allow, log or block the app as a whole.

#include <optional>
#include <string_view>

#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules {

enum class app_category : std::uint8_t {
  im_encrypted,  // chat whose content is end-to-end encrypted (WhatsApp Web, Signal, Telegram Web)
  voice_video,   // calls and meetings (Skype/Teams calling)
  p2p,           // file sharing (KaZaA, BitTorrent trackers, ...)
  spyware,       // adware and spyware beacons (Gator, ...)
  im,            // a chat app seen on an endpoint no decoder handles
};

std::string_view to_string(app_category c) noexcept;

struct app_match {
  std::string_view app;  // app id, e.g. "whatsapp-web", "kazaa", "gator"
  app_category category = app_category::im;
  std::string_view reason;  // which signal matched ("host", "user-agent", "url")
};

// Checks the request head against the built-in app table. nullopt when nothing matches.
std::optional<app_match> classify_app(const request_head& head) noexcept;
// The same answer, row by row with no precomputation: the definition classify_app is tested
// against (test/modules/apps_test.cpp).
std::optional<app_match> classify_app_reference(const request_head& head) noexcept;

// The metadata-only event for a match (kind app, direction outbound, sender from the proxy).
chat_event make_app_event(const app_match& m, const exchange& x);

}  // namespace imcap::modules
