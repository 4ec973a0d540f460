#pragma once
// What imcapd needs from pipeline/: the /imcap service built from the configuration, with the
// archive opened and the signature service's packs and ClamAV wired in. Keeps main() thin.

#include <memory>

#include "icap/config.hpp"
#include "pipeline/service.hpp"
#include "signatures/service.hpp"

namespace imcap::pipeline {

// Reads [policy] (and [archive]) from `cfg`, opens the archive unless policy.archive = "off",
// and builds the service. `sigs` may be null (no packs, no ClamAV) and must outlive the
// service. An archive that cannot be opened does not stop the daemon: the service runs with
// the archive stage failing (policy.on_archive_error), and OPTIONS for /imcap reports it when
// that is fail_closed. Throws settings_error for a bad [policy] section.
// The [archive] tables icap kept for us, validated by archive/ (throws its settings_error).
archive::settings archive_settings_of(const icap::config& cfg);

std::shared_ptr<imcap_service> make_imcap_service(const icap::config& cfg,
                                                  signatures::signature_service* sigs);

}  // namespace imcap::pipeline
