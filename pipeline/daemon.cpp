#include "pipeline/daemon.hpp"

#include <spdlog/spdlog.h>

#include "archive/settings.hpp"

namespace imcap::pipeline {

archive::settings archive_settings_of(const icap::config& cfg) {
  archive::settings s;
  if (auto it = cfg.extensions.find("archive"); it != cfg.extensions.end()) {
    for (const auto& t : it->second) archive::apply_archive_table(*t.table, t.file, s);
  }
  archive::finish_archive_settings(s, cfg.source);
  return s;
}

std::shared_ptr<imcap_service> make_imcap_service(const icap::config& cfg,
                                                  signatures::signature_service* sigs) {
  auto policy = policy_settings_of(cfg);
  dependencies deps;
  if (sigs != nullptr) {
    deps.packs = [sigs] { return sigs->packs(); };
    deps.clamav = sigs->clamav();
  }
  if (policy.archive != archive_scope::off) {
    archive::settings as = archive_settings_of(cfg);
    deps.durability = as.mode;
    try {
      deps.archive = archive::open_shared(as);  // one environment per process (the UI too)
    } catch (const std::exception& e) {
      deps.archive_problem = e.what();
      spdlog::error("archive: {}", e.what());
    }
  }
  return std::make_shared<imcap_service>(std::move(policy), std::move(deps));
}

}  // namespace imcap::pipeline
