// Batch saves: many small files in one streamed request, committed as new
// versions in one metadata transaction (docs/http-api.md, "Batch saves";
// docs/adr/0020-batch-saves.md). The body is a sequence of records
//   <sha256 hex> SP <size decimal> SP <percent-encoded name> LF <size bytes>
// Each file is streamed into its own blob writer and verified (size and
// SHA-256) as soon as its bytes have arrived; the blobs are made durable
// together (BlobGroup: one filesystem sync for the local store) before the
// versions are committed. Only when the whole body arrived and every file verified are
// the versions committed, all in one transaction: a batch cut short commits
// nothing (its blobs are orphans for `cairn gc`), never a part of a file.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxRecordHeader = 4096;

// A BlobWriter (Call::upload) that splits the batch body into files. A bad
// record or a digest mismatch is remembered rather than returned, and the
// rest of the body is read and dropped, so that the client gets the precise
// answer (400 digest_mismatch naming the file) on a connection still usable.
class BatchWriter final : public BlobWriter {
 public:
  // Where the store can make many blobs durable at once (GroupedBlobWriting),
  // the batch's files are one group, synced by Sync() before the commit.
  explicit BatchWriter(BlobStore* blobs) : blobs_(blobs) {
    if (auto* grouped = dynamic_cast<GroupedBlobWriting*>(blobs)) group_ = grouped->NewGroup();
  }
  ~BatchWriter() override { Cancel(); }

  Status Append(const void* data, std::size_t n) override {
    std::string_view in(static_cast<const char*>(data), n);
    total_ += n;
    while (!in.empty() && error_.ok()) {
      if (current_ == nullptr) {
        const std::size_t lf = in.find('\n');
        header_.append(in.substr(0, lf));
        if (header_.size() > kMaxRecordHeader) return Remember(InvalidArgumentError("a record header is too long"));
        if (lf == std::string_view::npos) return OkStatus();
        in.remove_prefix(lf + 1);
        if (Status s = StartFile(); !s.ok()) return Remember(s);
        if (remaining_ == 0 && !FinishFile().ok()) return OkStatus();
        continue;
      }
      const std::size_t take = std::min<std::uint64_t>(remaining_, in.size());
      if (Status s = current_->Append(in.data(), take); !s.ok()) return s;  // disk full: fail now
      in.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ == 0 && !FinishFile().ok()) return OkStatus();
    }
    return OkStatus();
  }

  // Checks that the body ended between records; the versions are committed
  // by the route's FinishFn.
  Status Commit(const std::string& /*expected_sha256*/, std::uint64_t expected_size) override {
    if (!error_.ok()) return error_;
    if (current_ != nullptr || !header_.empty()) {
      return InvalidArgumentError("the batch body ends inside the record of " +
                                  (current_ != nullptr ? pending_.name : std::string("a header")));
    }
    if (total_ != expected_size) return InvalidArgumentError("the batch body is shorter than its Content-Length");
    if (files_.empty()) return InvalidArgumentError("an empty batch: send at least one file");
    return OkStatus();
  }
  void Cancel() override {
    if (current_ != nullptr) current_->Cancel();
    current_.reset();
  }
  std::uint64_t size() const override { return total_; }

  const std::vector<NewVersion>& files() const { return files_; }
  // Every file's blob durable and visible (after a successful Commit).
  Status Sync() { return group_ != nullptr ? group_->Sync() : OkStatus(); }

 private:
  Status Remember(Status s) {
    Cancel();
    error_ = std::move(s);
    return OkStatus();
  }

  // Parses header_ ("<sha> <size> <name>") and opens the file's blob writer.
  Status StartFile() {
    const std::string line = std::exchange(header_, {});
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) {
      return InvalidArgumentError("record header \"" + line.substr(0, 200) + "\" is not \"<sha256> <size> <name>\"");
    }
    std::string sha = line.substr(0, sp1);
    for (char& c : sha) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::optional<std::uint64_t> size = ParseDecimal<std::uint64_t>(line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::optional<std::string> name = UrlDecode(std::string_view(line).substr(sp2 + 1));
    if (!IsSha256Hex(sha)) return InvalidArgumentError("\"" + sha + "\" in a record header is not a hex SHA-256");
    if (!size) return InvalidArgumentError("the size in record header \"" + line.substr(0, 200) + "\" is not a number");
    if (!name) return InvalidArgumentError("malformed percent-encoding in file name \"" + line.substr(sp2 + 1) + "\"");
    CAIRN_RETURN_IF_ERROR(ValidateFileName(*name));
    StatusOr<std::unique_ptr<BlobWriter>> writer = group_ != nullptr ? group_->NewWriter() : blobs_->NewWriter();
    if (!writer.ok()) return writer.status();
    current_ = std::move(writer).value();
    pending_ = NewVersion{*std::move(name), std::move(sha), *size};
    remaining_ = *size;
    return OkStatus();
  }

  // Verifies and publishes the current file's blob.
  Status FinishFile() {
    Status s = current_->Commit(pending_.sha256, pending_.size);
    current_.reset();
    if (!s.ok()) {
      error_ = s.code() == StatusCode::kDataLoss ? Status(StatusCode::kDataLoss, pending_.name + ": " + s.message())
                                                 : s;
      return error_;
    }
    files_.push_back(std::move(pending_));
    return OkStatus();
  }

  BlobStore* blobs_;
  std::unique_ptr<BlobGroup> group_;    // null: each blob durable at its Commit
  std::string header_;                  // the record header read so far
  std::unique_ptr<BlobWriter> current_;  // the file being received, if any
  NewVersion pending_;                  // its name, digest and size
  std::uint64_t remaining_ = 0;         // its bytes still to come
  std::uint64_t total_ = 0;
  std::vector<NewVersion> files_;  // received and verified, in body order
  Status error_;
};

}  // namespace

void HandleOpenBatch(const Services& s, Call& call) {
  if (!call.request.content_length.has_value()) {
    return call.Answer(ErrorResponse(411, "length_required", "a batch save needs a Content-Length header"));
  }
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return call.Fail(run.status());
  call.declared_size = *call.request.content_length;
  call.upload = std::make_unique<BatchWriter>(s.blobs);
}

HttpResponse HandleCommitBatch(const Services& s, Call& call, const Json& /*body*/, std::string_view /*raw*/) {
  auto* batch = static_cast<BatchWriter*>(call.upload.get());
  Status st = batch->Commit("", call.declared_size);
  if (st.code() == StatusCode::kDataLoss) return ErrorResponse(400, "digest_mismatch", st.message());
  if (!st.ok()) return StatusResponse(st);
  if (Status synced = batch->Sync(); !synced.ok()) return StatusResponse(synced);
  // Every blob is durable; now the versions, all in one transaction.
  std::vector<NewVersion> files_to_commit = batch->files();
  for (NewVersion& f : files_to_commit) f.created_by = call.principal.Actor();
  StatusOr<std::vector<FileVersionRecord>> versions = s.metadata->CommitVersions(call.run, files_to_commit);
  call.upload.reset();
  if (!versions.ok()) return StatusResponse(versions.status());
  Json files = Json::array();
  for (const FileVersionRecord& v : *versions) {
    s.upload_events->Committed(
        {.run = call.run, .name = v.name, .sha256 = v.sha256, .size = v.size, .version = v.version});
    files.push_back(Json{{"name", v.name},
                         {"size", v.size},
                         {"sha256", v.sha256},
                         {"version", v.version},
                         {"updated_at", FormatTimeMs(v.created_ms)},
                         {"created_by", v.created_by.empty() ? Json(nullptr) : Json(v.created_by)}});
  }
  return JsonResponse(201, Json{{"files", std::move(files)}});
}

}  // namespace cairn::internal
