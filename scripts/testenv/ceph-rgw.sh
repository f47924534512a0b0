#!/usr/bin/env bash
# A throwaway single-node Ceph (one mon, one memstore OSD, cephx off) with
# radosgw: a real S3 server on 127.0.0.1 that checks SigV4 signatures,
# presigned URLs and payload hashes as AWS does. Starts in about 7 s. Root only.
#   ceph-rgw.sh start DIR RGW_PORT MON_PORT   start it, create S3 user $S3_KEY/$S3_SECRET
#                                           (default CIKEY/CISECRET) and bucket $BUCKET (default cairn-test)
#   ceph-rgw.sh stop DIR                     kill the daemons and remove DIR
# MON_PORT and MON_PORT+1 are the monitor's v2 and v1 ports.
# Adapted from the team's reference tools/ceph-rgw-single-node.sh.
set -euo pipefail
cmd=${1:?usage: ceph-rgw.sh start|stop DIR [RGW_PORT MON_PORT]}
DIR=${2:?usage: ceph-rgw.sh start|stop DIR [RGW_PORT MON_PORT]}
RGW_PORT=${3:-27480}
MON_PORT=${4:-23300}
MON_V1=$((MON_PORT + 1))
S3_KEY=${S3_KEY:-CIKEY}; S3_SECRET=${S3_SECRET:-CISECRET}; BUCKET=${BUCKET:-cairn-test}
OBJSTORE=${OBJSTORE:-memstore}

stop() {
  # Throwaway state in RAM: SIGKILL at once (a clean Ceph shutdown takes seconds).
  if [ -d "$DIR/run" ]; then
    for f in "$DIR"/run/*.pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      kill -9 "$pid" 2>/dev/null || true
      # Gone, or a zombie (daemons are orphans; a container may not reap them).
      for _ in $(seq 1 50); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [ "$state" = gone ] || [ "$state" = Z ] && break
        sleep 0.05
      done
    done
  fi
  rm -rf "$DIR"
}

case "$cmd" in
  start) ;;
  stop) stop; exit 0 ;;
  *) echo "usage: ceph-rgw.sh start|stop DIR [RGW_PORT MON_PORT]" >&2; exit 2 ;;
esac

for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
  command -v "$b" >/dev/null || { echo "ceph-rgw.sh: $b not found: install ceph-mon ceph-osd radosgw ceph-common (scripts/install-deps.sh)" >&2; exit 1; }
done
stop
mkdir -p "$DIR"/{mon,osd0,rgw,run,log,crash}
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$DIR/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# radosgw defaults to a 'secure' mon connection, impossible without cephx:
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.1
run dir = $DIR/run
admin socket = $DIR/run/\$cluster-\$name.asok
pid file = $DIR/run/\$cluster-\$name.pid
log file = $DIR/log/\$cluster-\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
[mon]
mon data = $DIR/mon/\$cluster-\$id
[osd]
osd data = $DIR/osd0
osd objectstore = $OBJSTORE
memstore device bytes = 8589934592
bluestore block path = $DIR/osd0.block
bluestore block create = true
bluestore block size = 8589934592
osd memory target = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw
CONF
C=(-c "$DIR/ceph.conf")
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1]" "$DIR/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$DIR/monmap"
ceph-mon "${C[@]}" -i a  # daemonizes; pid in $DIR/run
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
ID=$(ceph "${C[@]}" --connect-timeout 30 osd new "$OSD_UUID")
ceph-osd "${C[@]}" -i "$ID" --mkfs --osd-uuid "$OSD_UUID" > "$DIR/log/osd-mkfs.out" 2>&1 || { cat "$DIR/log/osd-mkfs.out" >&2; exit 1; }
ceph-osd "${C[@]}" -i "$ID" 2>/dev/null
# Pre-create the rgw pools (radosgw would create them lazily, ~2 s each).
for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index \
         default.rgw.buckets.data default.rgw.buckets.non-ec; do
  ceph "${C[@]}" osd pool create "$p" 8 >/dev/null 2>&1
  ceph "${C[@]}" osd pool application enable "$p" rgw >/dev/null 2>&1
done
radosgw "${C[@]}" -n client.rgw.a
for _ in $(seq 1 240); do curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.25; done
curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" || { echo "ceph-rgw.sh: radosgw did not come up" >&2; tail -20 "$DIR"/log/*rgw*.log >&2; exit 1; }
radosgw-admin "${C[@]}" user create --uid=ci --display-name=CI --access-key="$S3_KEY" --secret-key="$S3_SECRET" >/dev/null
# The bucket, with a SigV4-signed PUT (curl 7.88 needs x-amz-content-sha256 sent explicitly).
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
code=$(curl -s -o "$DIR/log/mkbucket.out" -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
  --user "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: $EMPTY_SHA" "http://127.0.0.1:$RGW_PORT/$BUCKET")
if [ "$code" != 200 ]; then echo "ceph-rgw.sh: creating bucket $BUCKET answered $code" >&2; cat "$DIR/log/mkbucket.out" >&2; exit 1; fi
echo "ceph-rgw.sh: S3 on http://127.0.0.1:$RGW_PORT bucket $BUCKET key=$S3_KEY (ceph conf $DIR/ceph.conf)"
