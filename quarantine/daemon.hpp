#pragma once
// What imcapd needs from quarantine/: [webui] validated from the raw tables icap kept, and the
// UI started on the archive of [archive], opened through archive::open_shared so that the
// pipeline in the same process works on the same environment handle. Keeps main() thin.

#include <memory>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "archive/archive.hpp"
#include "quarantine/server.hpp"
#include "quarantine/settings.hpp"

namespace imcap::quarantine {

// One table of a configuration section and where it came from (defaults first, then the file).
struct config_table {
  std::string file;
  const toml::table* table = nullptr;
};

// Throws settings_error ("file:line:column: webui.key: reason").
webui_settings webui_settings_from(const std::vector<config_table>& webui,
                                   const std::string& source);
// Throws archive::settings_error.
archive::settings archive_settings_from(const std::vector<config_table>& archive,
                                        const std::string& source);

// Starts the UI when s.enabled; null when disabled. `pack_store` is [signatures] store (the
// packs page lists its active packs). A UI that cannot start (address in use,
// archive not openable, TLS files unreadable) is logged and null is returned: the ICAP service
// matters more than the UI, so the daemon keeps running.
std::unique_ptr<server> start_for_daemon(const webui_settings& s, const archive::settings& a,
                                         const std::filesystem::path& pack_store = {});

}  // namespace imcap::quarantine
