#pragma once
// XML through pugixml with imcap's limits (size, element depth). Namespace-aware helpers for
// XMPP: an element's namespace is resolved from xmlns declarations in scope.

#include <string>
#include <string_view>

#include <pugixml.hpp>

#include "modules/errors.hpp"

namespace imcap::modules::content {

// Parses `text` into `doc` (entities decoded, no external entities, no DTD processing).
decode_error parse_xml(std::string_view text, const limits& lim, pugi::xml_document& doc);

// The namespace URI that applies to `node` (its own xmlns or prefix declaration, or the
// nearest ancestor's).
std::string namespace_of(const pugi::xml_node& node);

// The local name of `node` (without prefix).
std::string_view local_name(const pugi::xml_node& node);

}  // namespace imcap::modules::content
