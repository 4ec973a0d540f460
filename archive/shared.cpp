// open_shared(): the process-wide table of open stores (see archive.hpp).

#include <map>
#include <mutex>

#include "archive/archive.hpp"

namespace imcap::archive {

std::shared_ptr<store> open_shared(const settings& s) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::weak_ptr<store>> open;
  std::error_code ec;
  std::filesystem::create_directories(s.path, ec);  // canonical() needs it to exist
  const auto key = std::filesystem::weakly_canonical(s.path, ec);
  if (ec) throw archive_error(s.path.string() + ": " + ec.message());
  std::lock_guard lk(mutex);
  if (auto it = open.find(key); it != open.end()) {
    if (auto st = it->second.lock()) return st;
  }
  std::shared_ptr<store> st = store::open(s, store::open_mode::read_write);
  if (!st->writes_events())
    throw archive_error(s.path.string() +
                        ": another process writes events to this archive (it holds "
                        "journal.lock); one imcapd per archive directory");
  open[key] = st;
  return st;
}

}  // namespace imcap::archive
