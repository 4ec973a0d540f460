#include "modules/session.hpp"

namespace imcap::modules {

memory_session_store::memory_session_store(std::size_t max_entries)
    : max_entries_(max_entries == 0 ? 1 : max_entries) {}

std::optional<std::string> memory_session_store::get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(std::string(key));
  if (it == map_.end()) return std::nullopt;
  return it->second.value;
}

void memory_session_store::put(std::string_view key, std::string value) {
  std::lock_guard lock(mu_);
  std::string k(key);
  auto it = map_.find(k);
  if (it != map_.end()) {
    // A write refreshes the entry's age: move it to the back of the order.
    order_.splice(order_.end(), order_, it->second.pos);
    it->second.value = std::move(value);
    return;
  }
  while (map_.size() >= max_entries_ && !order_.empty()) {
    map_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(k);
  auto pos = std::prev(order_.end());
  map_.emplace(std::move(k), entry{std::move(value), pos});
}

void memory_session_store::erase(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(std::string(key));
  if (it == map_.end()) return;
  order_.erase(it->second.pos);
  map_.erase(it);
}

std::size_t memory_session_store::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

}  // namespace imcap::modules
