// many_clients: CLIENTS concurrent HTTP clients (one thread and one keep-alive
// connection each) mixing small-file saves and restores against a running
// `cairn server` for SECONDS; then every saved version is restored by version
// and its SHA-256 compared with what was sent. Prints the counts and p50/p99
// latencies of saves and restores. Exit 0 only when no request failed and no
// version is lost or different.
//
//   many_clients BASE_URL API_KEY CLIENTS SECONDS [ENTITY=bench] [RUN_PREFIX=many]
//
// Each client has its own run ENTITY/clients/RUN_PREFIX-N and saves files of
// 1-64 KiB (random bytes) under 50 names, so names get several versions; a
// restore reads a random version this client saved earlier.
// Used by bench/many_clients_bench.sh and tests/integration/many_clients_test.cc.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string Sha256Hex(const std::string& data) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

size_t Collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

struct Saved {
  std::string name;
  long long version = 0;
  std::string sha256;
};

struct ClientResult {
  std::vector<double> save_ms, restore_ms;
  std::vector<Saved> saved;
  std::vector<std::string> errors;
};

class Client {
 public:
  Client(std::string base, const std::string& key, std::string run_path)
      : base_(std::move(base)), run_path_(std::move(run_path)), curl_(curl_easy_init()) {
    auth_ = curl_slist_append(nullptr, ("Authorization: Bearer " + key).c_str());
  }
  ~Client() {
    curl_slist_free_all(auth_);
    curl_easy_cleanup(curl_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; returns the HTTP status (0 on a transport error) and the body in *body.
  long Request(const char* method, const std::string& path, const std::string& upload, const std::string& sha256,
               std::string* body) {
    curl_easy_reset(curl_);
    body->clear();
    curl_slist* headers = nullptr;
    for (curl_slist* h = auth_; h != nullptr; h = h->next) headers = curl_slist_append(headers, h->data);
    if (!sha256.empty()) headers = curl_slist_append(headers, ("X-Cairn-Sha256: " + sha256).c_str());
    headers = curl_slist_append(headers, "Expect:");
    const std::string url = base_ + "/api/v1/runs/" + run_path_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);  // presigned downloads
    if (std::string(method) != "GET") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, upload.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(upload.size()));
    }
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) *body = curl_easy_strerror(rc);
    return status;
  }

 private:
  std::string base_;
  std::string run_path_;
  CURL* curl_;
  curl_slist* auth_ = nullptr;
};

long long VersionOf(const std::string& json) {
  const auto at = json.find("\"version\":");
  return at == std::string::npos ? 0 : std::atoll(json.c_str() + at + 10);
}

std::string Fail(const std::string& what, long status, const std::string& body) {
  return what + ": HTTP " + std::to_string(status) + " " + body.substr(0, 200);
}

void RunClient(Client& c, unsigned seed, Clock::time_point until, ClientResult* out) {
  std::mt19937_64 rng(seed);
  std::string body;
  long st = c.Request("PUT", "", R"({"resume":"allow"})", "", &body);
  if (st != 200 && st != 201) {
    out->errors.push_back(Fail("create run", st, body));
    return;
  }
  while (Clock::now() < until) {
    const bool save = out->saved.empty() || rng() % 2 == 0;
    const auto t0 = Clock::now();
    if (save) {
      std::string data(1024 * (1 + rng() % 64), '\0');
      for (auto& ch : data) ch = static_cast<char>(rng());
      const std::string name = "f-" + std::to_string(rng() % 50) + ".bin";
      const std::string sha = Sha256Hex(data);
      st = c.Request("PUT", "/files/" + name, data, sha, &body);
      if (st != 201) {
        out->errors.push_back(Fail("save " + name, st, body));
        continue;
      }
      out->saved.push_back({name, VersionOf(body), sha});
      out->save_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    } else {
      const Saved& s = out->saved[rng() % out->saved.size()];
      st = c.Request("GET", "/files/" + s.name + "?version=" + std::to_string(s.version), "", "", &body);
      if (st != 200 || Sha256Hex(body) != s.sha256) {
        out->errors.push_back(Fail("restore " + s.name + " v" + std::to_string(s.version), st, ""));
        continue;
      }
      out->restore_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
}

// Every version saved, restored again by version: nothing lost or changed.
void VerifyAll(Client& c, ClientResult* r, std::atomic<long>* verified) {
  std::string body;
  for (const Saved& s : r->saved) {
    const long st = c.Request("GET", "/files/" + s.name + "?version=" + std::to_string(s.version), "", "", &body);
    if (st != 200 || Sha256Hex(body) != s.sha256) {
      r->errors.push_back(Fail("verify " + s.name + " v" + std::to_string(s.version), st, ""));
    } else {
      ++*verified;
    }
  }
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::max(0.0, std::ceil(p / 100.0 * static_cast<double>(v.size())) - 1));
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: many_clients BASE_URL API_KEY CLIENTS SECONDS [ENTITY] [RUN_PREFIX]\n");
    return 2;
  }
  const std::string base = argv[1], key = argv[2];
  const int clients = std::atoi(argv[3]);
  const int seconds = std::atoi(argv[4]);
  const std::string entity = argc > 5 ? argv[5] : "bench";
  const std::string prefix = argc > 6 ? argv[6] : "many";
  curl_global_init(CURL_GLOBAL_ALL);
  std::vector<ClientResult> results(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  std::atomic<long> verified{0};
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  const auto t0 = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      Client c(base, key, entity + "/clients/" + prefix + "-" + std::to_string(i));
      RunClient(c, 1000 + static_cast<unsigned>(i), until, &results[static_cast<size_t>(i)]);
      VerifyAll(c, &results[static_cast<size_t>(i)], &verified);
    });
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> saves, restores;
  long saved = 0, errors = 0;
  for (const auto& r : results) {
    saves.insert(saves.end(), r.save_ms.begin(), r.save_ms.end());
    restores.insert(restores.end(), r.restore_ms.begin(), r.restore_ms.end());
    saved += static_cast<long>(r.saved.size());
    errors += static_cast<long>(r.errors.size());
    for (size_t i = 0; i < r.errors.size() && i < 3; ++i) std::fprintf(stderr, "error: %s\n", r.errors[i].c_str());
  }
  std::printf("many_clients: %d clients, %d s (%.1f s with the final check): %zu saves (%.0f/s), %zu restores (%.0f/s)\n",
              clients, seconds, wall, saves.size(), static_cast<double>(saves.size()) / seconds, restores.size(),
              static_cast<double>(restores.size()) / seconds);
  std::printf("many_clients: save    p50 %.1f ms  p99 %.1f ms\n", Percentile(saves, 50), Percentile(saves, 99));
  std::printf("many_clients: restore p50 %.1f ms  p99 %.1f ms\n", Percentile(restores, 50), Percentile(restores, 99));
  std::printf("many_clients: %ld errors; %ld of %ld saved versions restored afterwards with their digest\n", errors,
              verified.load(), saved);
  curl_global_cleanup();
  return errors == 0 && verified.load() == saved && saved > 0 ? 0 : 1;
}
