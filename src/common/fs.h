// Filesystem helpers with the durability rules of docs/adr/0003-storage-interfaces.md:
// a file is published by writing a temp beside it, fsync, rename, fsync dir.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

// Maps an errno from an operation on `path` to the Status vocabulary
// (ENOENT -> kNotFound, EACCES -> kPermissionDenied, ENOSPC/EDQUOT ->
// kResourceExhausted, ...). The one place errno becomes a Status.
Status ErrnoStatus(int err, std::string_view op, const std::filesystem::path& path);

// The same for the server's own storage (blobs, staging, upload sessions):
// a request cannot have caused such an error, so it never becomes a 4xx whose
// message a client would read. Full disk -> kResourceExhausted, EIO/EAGAIN/
// EINTR -> kUnavailable, everything else -> kInternal; the server answers
// those with fixed text and keeps the message (and its path) for its log.
Status StorageErrnoStatus(int err, std::string_view op, const std::filesystem::path& path);

// fsyncs a directory so a rename inside it is durable.
Status SyncDir(const std::filesystem::path& dir);

// Writes `content` to path atomically (temp + fsync + rename + fsync dir), with
// the given permission bits.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, int mode = 0644);

// 12 random lowercase hex characters, for temp file names beside a target.
std::string RandomSuffix();

// Reads a whole small file.
StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path);

// RFC 3339 UTC timestamp for a unix time in milliseconds.
std::string FormatTimeMs(long long unix_ms);
long long NowMs();

}  // namespace cairn::internal
