// cairn._native: libcairn's public API (include/cairn/) for Python. The
// pure-Python layer in python/cairn/ gives it its Pythonic shape (exceptions,
// context managers, file objects, docstrings); this file only converts types,
// releases the GIL around every wait (blocking.h) and turns a non-OK Status
// into the exception class cairn._errors picks for its code.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "blocking.h"
#include "cairn/cairn.h"

namespace cairn::python {
namespace {

namespace py = pybind11;
using namespace pybind11::literals;

// Raises cairn._errors' exception for `status` (which is not OK).
[[noreturn]] void Raise(const Status& status) {
  py::object error = py::module_::import("cairn._errors").attr("_from_status")(StatusCodeName(status.code()),
                                                                             status.message());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  throw py::error_already_set();
}

void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T Take(StatusOr<T>&& result) {
  if (!result.ok()) Raise(result.status());
  return std::move(*result);
}

// What a restore placed: (local path, sha256, downloaded); the Python layer
// opens the path. sha256 is empty for an existing local copy.
using Placed = std::tuple<std::string, std::string, bool>;

std::optional<Placed> ToPlaced(const std::optional<RestoredFile>& file) {
  if (!file) return std::nullopt;
  return Placed{file->path().string(), file->sha256(), file->downloaded()};
}

// Runs a download with Ctrl-C wired to TransferOptions::cancelled.
template <typename F>
auto Download(TransferOptions& transfer, F&& fn) {
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  transfer.cancelled = [cancel] { return cancel->load(); };
  return Blocking(std::forward<F>(fn), cancel.get());
}

ClientOptions Client(const std::string& base_url, const std::string& api_key, const std::string& entity,
                     const std::string& project, const std::string& dir, const std::string& mode) {
  return {.base_url = base_url, .api_key = api_key, .entity = entity, .project = project, .dir = dir, .mode = mode};
}

std::optional<Placed> RestoreFn(const std::string& name, const std::string& run_path, bool replace,
                                const std::string& root, std::optional<std::int64_t> version,
                                const std::optional<Run>& run) {
  RestoreOptions options{.run_path = run_path, .replace = replace, .root = root, .version = version};
  auto result = Download(options.transfer, [&] {
    return run ? run->restore(name, options) : restore(name, options);
  });
  return ToPlaced(Take(std::move(result)));
}

py::list RestoreManyFn(const std::string& pattern, const std::string& run_path, bool replace, const std::string& root,
                       int parallel_files, bool all_or_nothing, const ClientOptions& client) {
  RestoreManyOptions options{.run_path = run_path,
                             .replace = replace,
                             .root = root,
                             .parallel_files = parallel_files,
                             .all_or_nothing = all_or_nothing,
                             .client = client};
  auto placed = Take(Download(options.transfer, [&] { return restore_many(pattern, options); }));
  py::list out;
  for (const RestoredPath& p : placed) out.append(py::make_tuple(p.name, p.path.string(), p.sha256, p.downloaded));
  return out;
}

SavePolicy ParsePolicy(const std::string& policy) {
  if (policy == "now") return SavePolicy::kNow;
  if (policy == "end") return SavePolicy::kEnd;
  if (policy == "live") return SavePolicy::kLive;
  Raise(InvalidArgumentError("invalid policy '" + policy + "': use \"live\", \"now\" or \"end\""));
}

// Run::flush in slices of 100 ms, with the GIL released during each and
// Python's signal handlers run between them, so Ctrl-C interrupts a long
// flush at once (the uploads go on in the background).
void FlushFn(Run& run, std::optional<double> timeout_s) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + (timeout_s ? duration_cast<steady_clock::duration>(
                                                               duration<double>(std::max(0.0, *timeout_s)))
                                                         : steady_clock::duration(minutes(10)));
  while (true) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    Status st;
    {
      py::gil_scoped_release release;
      st = run.flush(std::clamp(left, milliseconds(0), milliseconds(100)));
    }
    if (st.code() != StatusCode::kDeadlineExceeded || steady_clock::now() >= deadline) return Check(st);
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

py::dict FileInfoDict(const FileInfo& f) {
  return py::dict("name"_a = f.name, "size"_a = f.size, "sha256"_a = f.sha256, "version"_a = f.version,
                  "updated_at"_a = f.updated_at);
}

py::dict RunInfoDict(const RunInfo& r) {
  return py::dict("entity"_a = r.entity, "project"_a = r.project, "id"_a = r.id, "created_at"_a = r.created_at,
                  "updated_at"_a = r.updated_at, "state"_a = r.state, "config"_a = r.config);
}

py::list FileInfoList(const std::vector<FileInfo>& files) {
  py::list out;
  for (const FileInfo& f : files) out.append(FileInfoDict(f));
  return out;
}

void BindRun(py::module_& m) {
  py::class_<Run>(m, "Run")
      .def_property_readonly("id", &Run::id)
      .def_property_readonly("entity", &Run::entity)
      .def_property_readonly("project", &Run::project)
      .def_property_readonly("path", &Run::path)
      .def_property_readonly("dir", [](const Run& r) { return r.dir().string(); })
      .def_property_readonly("resumed", &Run::resumed)
      .def("save",
           [](Run& r, const std::string& glob, const std::string& base_path, const std::string& policy, bool literal) {
             SaveOptions options{.base_path = base_path, .policy = ParsePolicy(policy), .literal = literal};
             return Take(Blocking([&] { return r.save(glob, options); }));
           })
      .def("flush", &FlushFn)
      .def("finish",
           [](Run& r, bool failed, std::optional<double> timeout_s) {
             FinishOptions options{.failed = failed};
             if (timeout_s) options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*timeout_s * 1000));
             Check(Blocking([&] { return r.finish(options); }));
           })
      .def("last_saved",
           [](const Run& r, const std::string& name) -> py::object {
             std::optional<SavedFile> s = r.last_saved(name);
             if (!s) return py::none();
             return py::dict("name"_a = s->name, "size"_a = s->size, "sha256"_a = s->sha256, "version"_a = s->version);
           })
      .def("upload_stats", [](const Run& r) {
        UploadStats s = r.upload_stats();
        return py::dict("queued"_a = s.queued, "committed"_a = s.committed, "unchanged"_a = s.unchanged,
                        "failed"_a = s.failed, "retries"_a = s.retries, "bytes_sent"_a = s.bytes_sent);
      });

  m.def("init", [](const std::string& id, const std::string& resume, const ClientOptions& client,
                   const std::string& config) {
    InitOptions options{.client = client, .id = id, .resume = resume, .config = config};
    return Take(Blocking([&] { return init(options); }));
  });
  m.def("current_run", &current_run);
}

void BindApi(py::module_& m) {
  py::class_<StoredFile>(m, "StoredFile")
      .def_property_readonly("info", [](const StoredFile& f) { return FileInfoDict(f.info()); })
      .def("download", [](const StoredFile& f, const std::string& root, bool replace, bool exist_ok) {
        DownloadOptions options{.root = root, .replace = replace, .exist_ok = exist_ok};
        RestoredFile file = Take(Download(options.transfer, [&] { return f.download(options); }));
        return Placed{file.path().string(), file.sha256(), file.downloaded()};
      });
  py::class_<StoredRun>(m, "StoredRun")
      .def_property_readonly("info", [](const StoredRun& r) { return RunInfoDict(r.info()); })
      .def("files", [](const StoredRun& r) { return FileInfoList(Take(Blocking([&] { return r.files(); }))); })
      .def("versions",
           [](const StoredRun& r, const std::string& name) {
             return FileInfoList(Take(Blocking([&] { return r.versions(name); })));
           })
      .def("file", [](const StoredRun& r, const std::string& name, std::optional<std::int64_t> version) {
        return Take(Blocking([&] { return r.file(name, version); }));
      });
  py::class_<Api>(m, "Api")
      .def(py::init([](const ClientOptions& client) { return Api(client); }))
      .def("run",
           [](const Api& a, const std::string& path) { return Take(Blocking([&] { return a.run(path); })); })
      .def("runs", [](const Api& a, const std::string& entity_project) {
        std::vector<RunInfo> runs = Take(Blocking([&] { return a.runs(entity_project); }));
        py::list out;
        for (const RunInfo& r : runs) out.append(RunInfoDict(r));
        return out;
      });
}

}  // namespace
}  // namespace cairn::python

PYBIND11_MODULE(_native, m) {
  using namespace cairn::python;  // NOLINT(google-build-using-namespace)
  using cairn::ClientOptions;
  using namespace pybind11::literals;  // NOLINT(google-build-using-namespace)
  m.doc() = "libcairn's public API; use the `cairn` package, which wraps this module.";
  m.def("version", [] { return std::string(cairn::version()); });

  py::class_<ClientOptions>(m, "ClientOptions")
      .def(py::init(&Client), "base_url"_a = "", "api_key"_a = "", "entity"_a = "", "project"_a = "", "dir"_a = "",
           "mode"_a = "");

  m.def("restore", &RestoreFn, "name"_a, "run_path"_a, "replace"_a, "root"_a, "version"_a, "run"_a);
  m.def("restore_many", &RestoreManyFn, "pattern"_a, "run_path"_a, "replace"_a, "root"_a, "parallel_files"_a,
        "all_or_nothing"_a, "client"_a);
  BindRun(m);
  BindApi(m);
}

