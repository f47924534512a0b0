// The web UI's built files (web/dist), embedded in the binary at build time
// by cmake/EmbedWeb.cmake (docs/adr/0023-web-ui.md). Empty when the UI was
// not built (a plain C++ build needs no network): the server then answers
// its pages with a short page saying how to build it.
#pragma once

#include <span>
#include <string_view>

namespace cairn::internal {

struct WebAsset {
  std::string_view name;          // file name in web/dist, e.g. "app.js"
  std::string_view content_type;  // by extension
  std::string_view body;
};

// Every embedded file, in no particular order.
std::span<const WebAsset> WebAssets();

}  // namespace cairn::internal
