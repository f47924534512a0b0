// A file that restore() or download() placed on local disk, handed back open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

namespace cairn {

// An open, binary, read-only stream positioned at offset 0 that knows where it
// lives and what was verified. Move-only (like std::ifstream). Reading from it
// is as for any std::istream; it is not thread-safe.
class RestoredFile : public std::ifstream {
 public:
  RestoredFile(std::filesystem::path path, std::string name, std::string sha256, bool downloaded)
      : std::ifstream(path, std::ios::in | std::ios::binary),
        path_(std::move(path)),
        name_(std::move(name)),
        sha256_(std::move(sha256)),
        downloaded_(downloaded) {}
  // Written out: a defaulted move would have to move the virtual base
  // std::basic_ios, which is not movable, and so would be deleted.
  RestoredFile(RestoredFile&& other) noexcept
      : std::ifstream(std::move(other)),
        path_(std::move(other.path_)),
        name_(std::move(other.name_)),
        sha256_(std::move(other.sha256_)),
        downloaded_(other.downloaded_) {}
  RestoredFile& operator=(RestoredFile&& other) noexcept {
    path_ = std::move(other.path_);
    name_ = std::move(other.name_);
    sha256_ = std::move(other.sha256_);
    downloaded_ = other.downloaded_;
    std::ifstream::operator=(std::move(other));  // last: `other` is moved-from after it
    return *this;
  }

  // The local path: root/name.
  const std::filesystem::path& path() const { return path_; }
  // The file's name inside the run ("ckpt/step-100.pt").
  const std::string& name() const { return name_; }
  // Lowercase hex SHA-256 of the bytes, verified while downloading. Empty when
  // an existing local copy was returned without contacting the store.
  const std::string& sha256() const { return sha256_; }
  // True when the bytes were fetched from the store in this call; false for
  // an existing local copy and for a content-cache hit (sha256() is set then).
  bool downloaded() const { return downloaded_; }

 private:
  std::filesystem::path path_;
  std::string name_;
  std::string sha256_;
  bool downloaded_ = false;
};

}  // namespace cairn
