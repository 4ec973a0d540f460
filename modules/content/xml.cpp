#include "modules/content/xml.hpp"

namespace imcap::modules::content {

decode_error parse_xml(std::string_view text, const limits& lim, pugi::xml_document& doc) {
  doc.reset();
  if (text.size() > lim.max_decoded_bytes)
    return {errc::too_large, "xml: document of " + std::to_string(text.size()) + " bytes over " +
                                 std::to_string(lim.max_decoded_bytes)};
  // pugixml never loads external entities nor expands DTD-declared ones; asking it to keep the
  // DOCTYPE node lets imcap refuse documents that carry one at all (entity tricks, billion
  // laughs aimed at later consumers).
  unsigned flags = pugi::parse_default | pugi::parse_doctype;
  auto r = doc.load_buffer(text.data(), text.size(), flags, pugi::encoding_utf8);
  if (!r) {
    doc.reset();
    // pugixml reports a document cut short as an error at (or just before) its last byte.
    if (r.status != pugi::status_no_document_element && !text.empty() &&
        static_cast<std::size_t>(r.offset) + 1 >= text.size())
      return {errc::truncated, std::string("xml: ") + r.description() + " at end of document"};
    return {errc::malformed_xml,
            std::string("xml: ") + r.description() + " at offset " + std::to_string(r.offset)};
  }
  // Depth check without recursion: walk the tree by first_child / next_sibling / parent.
  std::size_t depth = 1;
  pugi::xml_node n = doc.first_child();
  while (n) {
    if (n.type() == pugi::node_doctype) {
      doc.reset();
      return {errc::malformed_xml, "xml: DOCTYPE declarations are not accepted"};
    }
    if (n.type() == pugi::node_element && depth > lim.max_depth) {
      doc.reset();
      return {errc::too_deep, "xml: elements nested deeper than " + std::to_string(lim.max_depth)};
    }
    if (auto c = n.first_child()) {
      n = c;
      ++depth;
      continue;
    }
    // Climb until a node has a next sibling; the document node has none and no parent.
    while (n && !n.next_sibling()) {
      n = n.parent();
      --depth;
    }
    if (n) n = n.next_sibling();
  }
  return {};
}

std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

std::string namespace_of(const pugi::xml_node& node) {
  std::string_view name = node.name();
  auto colon = name.find(':');
  std::string attr = colon == std::string_view::npos
                         ? std::string("xmlns")
                         : "xmlns:" + std::string(name.substr(0, colon));
  for (pugi::xml_node n = node; n; n = n.parent()) {
    if (auto a = n.attribute(attr.c_str())) return a.value();
  }
  return {};
}

}  // namespace imcap::modules::content
