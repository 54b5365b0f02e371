#!/bin/bash
# Throwaway single-node OpenStack Swift with its S3 API (s3api middleware,
# tempauth) on 127.0.0.1: one device, one replica, every server in one
# process each, nothing outside DIR: swift.conf and the rings are read from
# DIR/etc; the Debian packages' /etc/swift is neither read nor needed (the
# start-up is tested with an empty /etc/swift).
# Usage: swift-up.sh DIR [S3_PORT]      Tear down: swift-down.sh DIR
# S3 credentials: access key "test:tester", secret "testing" (tempauth user).
# Needs (as root, Debian 12):
#   apt-get install -y --no-install-recommends swift swift-proxy \
#       swift-account swift-container swift-object memcached
set -euo pipefail
D=$(realpath -m "${1:?dir}")
PORT=${2:-8080}
T0=$(date +%s%N)
ts() { echo "[$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }
die() { echo "swift-up: $*" >&2; tail -20 "$D"/log/*.log >&2 2>/dev/null; exit 1; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MEMC=$(free_port); ACC=$(free_port); CON=$(free_port); OBJ=$(free_port)

rm -rf "$D"; mkdir -p "$D"/{etc,srv/d1,run,log,cache}
cat > "$D/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $(cat /proc/sys/kernel/random/uuid)
swift_hash_path_prefix = $(cat /proc/sys/kernel/random/uuid)
[storage-policy:0]
name = Policy-0
default = yes
EOF
common() {
	cat <<EOF
[DEFAULT]
swift_dir = $D/etc
devices = $D/srv
mount_check = false
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
log_level = WARNING
log_address = /nonexistent
log_udp_host = 127.0.0.1
log_udp_port = 9
EOF
}
for s in account:$ACC container:$CON object:$OBJ; do
	name=${s%%:*} port=${s##*:}
	{ common "$port"
	  cat <<EOF
[pipeline:main]
pipeline = $name-server
[app:$name-server]
use = egg:swift#$name
EOF
	  [ "$name" = object ] && echo "disk_chunk_size = 1048576" || true
	  echo "[$name-replicator]"
	  [ "$name" = container ] && printf '[container-sync]\n' || true
	} > "$D/etc/$name-server.conf"
done
# the three rings (one device, one replica) in one interpreter: the
# swift-ring-builder command takes ~2 s for each of its nine calls
/usr/bin/python3 - "$D/etc" "$ACC" "$CON" "$OBJ" <<'EOF' || die "rings"
import sys
from swift.common.ring import RingBuilder
for name, port in zip(("account", "container", "object"), sys.argv[2:]):
    b = RingBuilder(0, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
               "port": int(port), "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (sys.argv[1], name))
EOF
{ common "$PORT"
  cat <<EOF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMC
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
EOF
  for f in catch_errors gatekeeper healthcheck listing_formats copy slo dlo; do
	printf '[filter:%s]\nuse = egg:swift#%s\n' "$f" "$f"
  done
} > "$D/etc/proxy-server.conf"
ts "config and rings"

memcached -l 127.0.0.1 -p "$MEMC" -U 0 -u "$(id -un)" -d -P "$D/run/memcached.pid" ||
	die "memcached"
# what /usr/bin/swift-NAME-server does, but with DIR/etc/swift.conf: the
# servers read /etc/swift/swift.conf (hash prefix, storage policies,
# constraints) before they apply swift_dir, and fail where it is missing
serve='
import sys
from swift.common import utils
utils.SWIFT_CONF_FILE = sys.argv[1]
from swift.common.wsgi import run_wsgi
kw = {}
if sys.argv[2] == "object":
    from swift.obj import server
    kw["global_conf_callback"] = server.global_conf_callback
sys.exit(run_wsgi(sys.argv[3], sys.argv[2] + "-server", **kw))
'
for name in account container object proxy; do
	setsid /usr/bin/python3 -c "$serve" "$D/etc/swift.conf" "$name" \
		"$D/etc/$name-server.conf" > "$D/log/$name.log" 2>&1 < /dev/null &
	echo $! > "$D/run/$name.pid"
done
for i in $(seq 300); do
	curl -fs "http://127.0.0.1:$PORT/healthcheck" >/dev/null 2>&1 &&
		ts "swift s3api on 127.0.0.1:$PORT" && exit 0
	for name in account container object proxy; do
		kill -0 "$(cat "$D/run/$name.pid")" 2>/dev/null || die "$name server exited"
	done
	sleep 0.1	# poll for start-up
done
die "proxy did not answer in 30 s"
