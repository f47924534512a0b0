// The JSON of a file version (docs/http-api.md, "Files"), as a tree and as
// bytes written straight into a response body. Private to src/server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/metadata_store.h"

namespace cairn::internal {

// One file version: name, size, sha256, version, updated_at (ISO 8601 UTC),
// created_by (null when unknown). The definition of the fields.
nlohmann::json FileJson(const FileVersionRecord& f);

// Appends `s` as a JSON string, byte for byte as JsonResponse() serializes
// it (no ASCII escaping; invalid UTF-8 replaced by U+FFFD).
void AppendJsonString(std::string& out, std::string_view s);

// Appends FileJson(f) serialized exactly as JsonResponse() would, without
// building the tree (a page of 1,000 versions spent most of its server time
// allocating and freeing that tree). file_json_test pins the two equal.
void AppendFileJson(std::string& out, const FileVersionRecord& f);

// The body of GET .../files: {"files":[...],"next_cursor":...}, with
// next_cursor null when `next_cursor` is empty.
std::string FilePageJson(const std::vector<FileVersionRecord>& files, const std::string& next_cursor);

}  // namespace cairn::internal
