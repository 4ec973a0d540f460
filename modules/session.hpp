#pragma once
// Cross-request state the decoders need: a BOSH session's bound JID, Engine.IO binary packets
// waiting for their attachments, an MSN gateway SessionID's user, an upload URL's file. Keys are
// namespaced by the decoder ("bosh:jid:<sid>"). The pipeline owns the store; decoders only get
// and put.
//
// Thread-safety: every member is safe to call from several threads at once.

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace imcap::modules {

class session_store {
 public:
  virtual ~session_store() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string value) = 0;
  virtual void erase(std::string_view key) = 0;
};

// In-memory store bounded by entry count; the least recently written entry goes first.
class memory_session_store final : public session_store {
 public:
  explicit memory_session_store(std::size_t max_entries = 100'000);
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string value) override;
  void erase(std::string_view key) override;
  std::size_t size() const;

 private:
  using order_list = std::list<std::string>;
  struct entry {
    std::string value;
    order_list::iterator pos;
  };
  mutable std::mutex mu_;
  std::size_t max_entries_;
  order_list order_;  // oldest write first
  std::unordered_map<std::string, entry> map_;
};

}  // namespace imcap::modules
