#include "quarantine/daemon.hpp"

#include <spdlog/spdlog.h>

#include "archive/settings.hpp"

namespace imcap::quarantine {

webui_settings webui_settings_from(const std::vector<config_table>& webui,
                                   const std::string& source) {
  webui_settings s;
  for (const auto& t : webui) apply_webui_table(*t.table, t.file, s);
  finish_webui_settings(s, source);
  return s;
}

archive::settings archive_settings_from(const std::vector<config_table>& tables,
                                        const std::string& source) {
  archive::settings s;
  for (const auto& t : tables) archive::apply_archive_table(*t.table, t.file, s);
  archive::finish_archive_settings(s, source);
  return s;
}

std::unique_ptr<server> start_for_daemon(const webui_settings& s, const archive::settings& a,
                                         const std::filesystem::path& pack_store) {
  if (!s.enabled) return nullptr;
  try {
    const auto store = archive::open_shared(a);
    server_options o;
    o.settings = s;
    o.archive = store;
    o.pack_store = pack_store;
    auto srv = server::start(std::move(o));
    spdlog::info("webui: reviewer UI on {}/ (archive {})", srv->base_url(), a.path.string());
    if (store->users().empty()) {
      spdlog::warn("webui: no accounts yet; create one with `imcapctl user add NAME --role admin`");
    }
    return srv;
  } catch (const std::exception& e) {
    spdlog::error("webui: not started: {}", e.what());
    return nullptr;
  }
}

}  // namespace imcap::quarantine
