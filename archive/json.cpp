// to_json_line: the archive's JSON form of one event (Boost.JSON does the escaping; chat
// content is attacker-controlled).

#include <boost/json.hpp>

#include "archive/archive.hpp"

namespace imcap::archive {

namespace {

boost::json::array pairs_json(const std::vector<std::pair<std::string, std::string>>& v,
                              const char* first, const char* second) {
  boost::json::array out;
  for (const auto& [a, b] : v) out.push_back(boost::json::object{{first, a}, {second, b}});
  return out;
}

boost::json::array strings_json(const std::vector<std::string>& v) {
  boost::json::array out;
  for (const auto& s : v) out.push_back(boost::json::string(s));
  return out;
}

}  // namespace

std::string to_json_line(const event_record& e) {
  boost::json::object o;
  o["id"] = e.id;
  o["seen_us"] = e.seen_us;
  o["kind"] = e.kind;
  o["app"] = e.app;
  o["transport"] = e.transport;
  o["direction"] = e.direction;
  o["session_key"] = e.session_key;
  o["conversation_id"] = e.conversation_id;
  o["sender_id"] = e.sender_id;
  o["sender_name"] = e.sender_name;
  o["sender_source"] = e.sender_source;
  o["recipients"] = pairs_json(e.recipients, "id", "name");
  o["text"] = e.text;
  o["html"] = e.html;
  o["client_msg_id"] = e.client_msg_id;
  o["server_msg_id"] = e.server_msg_id;
  o["timestamp"] = e.timestamp;
  o["encrypted"] = e.encrypted;
  // An array, not an object: a key may repeat (one flag per omitted attachment, say).
  o["attributes"] = pairs_json(e.attributes, "key", "value");
  boost::json::array atts;
  for (const auto& a : e.attachments) {
    boost::json::object j{{"name", a.name},
                          {"media_type", a.media_type},
                          {"true_type", a.true_type},
                          {"sha256", a.sha256},
                          {"ref", a.ref},
                          {"virus_names", strings_json(a.virus_names)},
                          {"content_stored", a.content_stored}};
    if (a.size)
      j["size"] = *a.size;
    else
      j["size"] = nullptr;
    atts.push_back(std::move(j));
  }
  o["attachments"] = std::move(atts);
  o["proxy_user"] = e.proxy_user;
  o["proxy_groups"] = strings_json(e.proxy_groups);
  o["client_ip"] = e.client_ip;
  o["url"] = e.url;
  o["user_agent"] = e.user_agent;
  o["icap_transaction"] = e.icap_transaction;
  o["verdict"] = e.verdict;
  boost::json::array hits;
  for (const auto& h : e.hits) {
    hits.push_back(boost::json::object{{"rule_id", h.rule_id},
                                       {"pack", h.pack},
                                       {"pack_version", h.pack_version},
                                       {"action", h.action},
                                       {"severity", h.severity},
                                       {"part", h.part},
                                       {"attachment", h.attachment},
                                       {"begin", h.begin},
                                       {"end", h.end},
                                       {"monitor", h.monitor},
                                       {"message", h.message},
                                       {"detail", h.detail}});
  }
  o["hits"] = std::move(hits);
  o["pack_version"] = e.pack_version;
  o["quarantine"] = e.quarantine;
  o["chain_hash"] = e.chain_hash;
  return boost::json::serialize(o);
}

}  // namespace imcap::archive
