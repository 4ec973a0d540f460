#include "modules/registry.hpp"

#include <set>

#include "modules/bayeux/bayeux.hpp"
#include "modules/bosh/bosh.hpp"
#include "modules/discord/discord.hpp"
#include "modules/engineio/engineio.hpp"
#include "modules/googlechat/googlechat.hpp"
#include "modules/legacy/aim_wim.hpp"
#include "modules/legacy/msn_gateway.hpp"
#include "modules/legacy/ymsg_http.hpp"
#include "modules/matrix/matrix.hpp"
#include "modules/mattermost/mattermost.hpp"
#include "modules/rocketchat/rocketchat_rest.hpp"
#include "modules/signalr/signalr.hpp"
#include "modules/slack/slack.hpp"
#include "modules/sockjs/sockjs.hpp"
#include "modules/teams/teams.hpp"
#include "modules/telegram/telegram.hpp"
#include "modules/webex/webex.hpp"
#include "modules/zulip/zulip.hpp"

namespace imcap::modules {

namespace {

// The decoder table, in classification order (more specific first). One descriptor per line;
// each transport folder declares its descriptor in its header (see modules/README.md).
const std::vector<decoder>& table() {
  static const std::vector<decoder> t = {
      teams_chatsvc_decoder,
      slack_web_decoder,
      discord_decoder,
      google_chat_decoder,
      webex_decoder,
      mattermost::descriptor,
      rocketchat::descriptor,
      matrix::descriptor,
      msn::descriptor,
      ymsg::descriptor,
      aim::descriptor,
      sockjs::methodcall_decoder,
      signalr::classic_decoder,
      signalr::core_decoder,
      engineio::socketio_decoder,
      sockjs::sockjs_decoder,
      zulip::zulip_decoder,
      bosh::bosh_decoder,
      bayeux::bayeux_decoder,
      telegram::bot_decoder,
      // Last: it accepts generic PUT upload paths (see modules/bosh/bosh.hpp).
      bosh::upload_decoder,
  };
  return t;
}

bool lowercase_name(std::string_view s) noexcept {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::span<const decoder> decoders() noexcept {
  return table();
}

std::vector<std::string> validate_table(std::span<const decoder> t) {
  std::vector<std::string> problems;
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto& d = t[i];
    std::string who = "decoder " + std::to_string(i) + " (\"" + std::string(d.name) + "\")";
    if (d.name.empty())
      problems.push_back(who + ": empty name");
    else if (!lowercase_name(d.name))
      problems.push_back(who + ": name must be lowercase letters, digits, '-' or '_'");
    else if (!names.insert(d.name).second)
      problems.push_back(who + ": duplicate name");
    if (d.app.empty()) problems.push_back(who + ": no app");
    if (d.family.empty()) problems.push_back(who + ": no family");
    if (d.classify == nullptr) problems.push_back(who + ": no classify function");
    if (d.decode_request == nullptr && d.decode_response == nullptr)
      problems.push_back(who + ": neither decode_request nor decode_response");
    // Replies (decoder.hpp, modules/README.md "Replies").
    if (d.decode_request != nullptr && d.render_block == nullptr)
      problems.push_back(who + ": decodes outbound messages but has no render_block");
    if (d.strip != nullptr && d.decode_request == nullptr)
      problems.push_back(who + ": strip without decode_request (strip takes its locations)");
    if (d.inject_notice != nullptr && d.decode_response == nullptr)
      problems.push_back(who + ": inject_notice without decode_response (answers not read)");
    if (d.inject_notice != nullptr && d.session_of == nullptr && d.session_of_exchange == nullptr)
      problems.push_back(who +
                         ": inject_notice without session_of or session_of_exchange "
                         "(a queued notice could never find its poll)");
    if (d.strip != nullptr && d.inject_notice == nullptr)
      problems.push_back(who +
                         ": strip without inject_notice (the user would never learn "
                         "that a message was removed)");
  }
  return problems;
}

const decoder* classify(const request_head& head) noexcept {
  for (const auto& d : table()) {
    if (d.classify != nullptr && d.classify(head)) return &d;
  }
  return nullptr;
}

const decoder* find_decoder(std::string_view name) noexcept {
  for (const auto& d : table()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

decode_outcome decode_exchange(const exchange& x) {
  decode_outcome r;
  r.used = classify(x.request.head);
  if (r.used == nullptr) return r;
  if (r.used->decode_request != nullptr) {
    r.error = r.used->decode_request(x, r.events);
    if (r.error) return r;
  }
  if (x.response != nullptr && r.used->decode_response != nullptr) {
    r.error = r.used->decode_response(x, r.events);
    r.error_in_response = static_cast<bool>(r.error);
  }
  return r;
}

}  // namespace imcap::modules
