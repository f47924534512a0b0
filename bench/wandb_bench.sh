#!/usr/bin/env bash
# W&B endpoint benchmarks (issue 7), each beside its reference in the same run:
#  A. the first RunFiles page of a run holding a 256 MiB checkpoint, asked
#     right after the upload (the MD5 comes from the background indexer, or the
#     request computes it, checking the SHA-256 too) vs `md5sum` of the same
#     file, and vs the same page again (MD5 read from the store); and the
#     upload itself (cairn save) vs sha256sum + `curl -T` of the same bytes.
#  B. downloading the file through the url /graphql hands out (Basic api:KEY)
#     vs the REST route with Bearer (the same bytes, the same server).
#  C. 200 GraphQL login checks `{ viewer { id } }` vs 200 GET /api/v1/whoami,
#     each batch on one keep-alive connection.
# Usage: bench/wandb_bench.sh [REPEATS]   (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
bin="$(pwd)/build/bin"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/cairn" server --data "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>/dev/null &
server_pid=$!
for _ in $(seq 1 200); do grep -qs "listening on" "$work/server.out" && break; sleep 0.05; done
export CAIRN_BASE_URL=$(sed -n 's/^cairn server listening on //p' "$work/server.out") HOME="$work/home"
mkdir -p "$HOME"
export CAIRN_API_KEY=$(CAIRN_API_KEY=$(cat "$work/data/admin.key") "$bin/cairn" keys create --entity bench)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{print b-a}'; }
query='query Files($e: String!, $p: String!, $r: String!) { project(name: $p, entityName: $e) { run(name: $r) { fileCount files(first: 50) { edges { node { name url sizeBytes md5 } } } } } }'
files_page() {  # run -> prints the response
  curl -sf -u "api:$CAIRN_API_KEY" -H 'Content-Type: application/json' "$CAIRN_BASE_URL/graphql" \
    --data "{\"query\": \"$query\", \"variables\": {\"e\": \"bench\", \"p\": \"wandb\", \"r\": \"$1\"}}"
}

mkdir -p "$work/ckpt"
head -c $((256 << 20)) /dev/urandom >"$work/ckpt/model.bin"
for i in $(seq 1 40); do echo "step $i" >"$work/ckpt/step_$i.txt"; done
: >"$work/a_save"; : >"$work/a_curl"; : >"$work/a_md5sum"; : >"$work/a_first"; : >"$work/a_again"; : >"$work/b_gql"; : >"$work/b_rest"
for r in $(seq 1 "$repeats"); do
  # Fresh content per repeat, so every first page computes a new MD5.
  printf '%08d' "$r" | dd of="$work/ckpt/model.bin" conv=notrunc bs=1 seek=0 2>/dev/null
  # The reference upload first, into another run (its MD5 is hashed in the background too).
  printf '%08d' "$((r + 1000))" | dd of="$work/ckpt/model.bin" conv=notrunc bs=1 seek=0 2>/dev/null
  "$bin/cairn" save "$work/ckpt/step_1.txt" --run "bench/wandb/curl$r" --base "$work/ckpt" >/dev/null
  t0=$(now); sha=$(sha256sum "$work/ckpt/model.bin" | cut -c1-64)
  curl -sf -o /dev/null -H "Expect:" -T "$work/ckpt/model.bin" -H "Authorization: Bearer $CAIRN_API_KEY" \
    -H "X-Cairn-Sha256: $sha" "$CAIRN_BASE_URL/api/v1/runs/bench/wandb/curl$r/files/model.bin"; t1=$(now)
  elapsed "$t0" "$t1" >>"$work/a_curl"
  printf '%08d' "$r" | dd of="$work/ckpt/model.bin" conv=notrunc bs=1 seek=0 2>/dev/null
  sync
  t0=$(now); (cd "$work/ckpt" && "$bin/cairn" save model.bin --run "bench/wandb/r$r" >/dev/null); t1=$(now)
  elapsed "$t0" "$t1" >>"$work/a_save"
  (cd "$work/ckpt" && "$bin/cairn" save step_*.txt --run "bench/wandb/r$r" >/dev/null)
  t0=$(now); md5sum "$work/ckpt/model.bin" >/dev/null; t1=$(now); elapsed "$t0" "$t1" >>"$work/a_md5sum"
  t0=$(now); files_page "r$r" >"$work/page.json"; t1=$(now); elapsed "$t0" "$t1" >>"$work/a_first"
  t0=$(now); files_page "r$r" >/dev/null; t1=$(now); elapsed "$t0" "$t1" >>"$work/a_again"
  want=$(openssl dgst -md5 -binary "$work/ckpt/model.bin" | base64)
  grep -q "\"md5\":\"$want\"" "$work/page.json" || { echo "md5 mismatch: $(head -c 300 "$work/page.json")"; exit 1; }
  url=$(grep -o '"name":"model.bin","url":"[^"]*"' "$work/page.json" | sed 's/.*"url":"//; s/"$//')
  t0=$(now); curl -sf -u "api:$CAIRN_API_KEY" -o /dev/null "$url"; t1=$(now); elapsed "$t0" "$t1" >>"$work/b_gql"
  t0=$(now); curl -sf -H "Authorization: Bearer $CAIRN_API_KEY" -o /dev/null \
    "$CAIRN_BASE_URL/api/v1/runs/bench/wandb/r$r/files/model.bin"; t1=$(now); elapsed "$t0" "$t1" >>"$work/b_rest"
done
md5s=$(median <"$work/a_md5sum"); first=$(median <"$work/a_first"); again=$(median <"$work/a_again")
save=$(median <"$work/a_save"); curlput=$(median <"$work/a_curl")
echo "== A. upload 256 MiB, then the first RunFiles page (with 40 small files) right away"
printf '   sha256sum + curl -T (reference) median %7.3f s\n' "$curlput"
printf '   cairn save of the 256 MiB       median %7.3f s   ratio to curl %.2f\n' "$save" \
  "$(awk -v a="$save" -v b="$curlput" 'BEGIN{print a/b}')"
printf '   md5sum of the file (reference)  median %7.3f s\n' "$md5s"
printf '   first page after the upload     median %7.3f s   ratio to md5sum %.2f\n' "$first" \
  "$(awk -v a="$first" -v b="$md5s" 'BEGIN{print a/b}')"
printf '   same page again (MD5 stored)    median %7.3f s\n' "$again"
gql=$(median <"$work/b_gql"); rest=$(median <"$work/b_rest")
echo "== B. download 256 MiB"
printf '   REST route, Bearer (reference)  median %7.3f s\n' "$rest"
printf '   url from /graphql, Basic        median %7.3f s   ratio %.2f\n' "$gql" \
  "$(awk -v a="$gql" -v b="$rest" 'BEGIN{print a/b}')"

echo "== C. 200 requests on one connection"
: >"$work/c_gql"; : >"$work/c_rest"
# Per-request options repeat in every block: "next" resets them.
for i in $(seq 1 200); do
  printf 'url = "%s/graphql"\nuser = "api:%s"\noutput = "/dev/null"\nfail\ndata = "{\\"query\\": \\"{ viewer { id } }\\"}"\nnext\n' \
    "$CAIRN_BASE_URL" "$CAIRN_API_KEY" >>"$work/c_gql.cfg"
  printf 'url = "%s/api/v1/whoami"\nheader = "Authorization: Bearer %s"\noutput = "/dev/null"\nfail\nnext\n' \
    "$CAIRN_BASE_URL" "$CAIRN_API_KEY" >>"$work/c_rest.cfg"
done
sed -i '$d' "$work/c_gql.cfg"; sed -i '$d' "$work/c_rest.cfg"  # no "next" after the last request
for r in $(seq 1 "$repeats"); do
  t0=$(now); curl -s -K "$work/c_gql.cfg"; t1=$(now); elapsed "$t0" "$t1" >>"$work/c_gql"
  t0=$(now); curl -s -K "$work/c_rest.cfg"; t1=$(now); elapsed "$t0" "$t1" >>"$work/c_rest"
done
cg=$(median <"$work/c_gql"); cr=$(median <"$work/c_rest")
printf '   GET /api/v1/whoami (reference)  median %7.3f s\n' "$cr"
printf '   POST /graphql { viewer { id } } median %7.3f s   ratio %.2f\n' "$cg" "$(awk -v a="$cg" -v b="$cr" 'BEGIN{print a/b}')"
