# controller-lib.sh -- shared setup of the controller benchmarks (source after tests/lib.sh)
#
# bench_tools: nginx and wrk, installed with apt-get when missing (Debian
# packages nginx-light and wrk; the package's service is not started).
# bench_nginx ROOT_DIR PORT: nginx in $CC_NS serving ROOT_DIR on 127.0.0.1:PORT
# wrk_run URL [WRK ARGS..]: prints "requests_per_s bytes_per_s p99_ms" of a wrk run

bench_tools() {
	local missing=() created=0
	command -v nginx >/dev/null || missing+=(nginx-light)
	command -v wrk >/dev/null || missing+=(wrk)
	[ "${#missing[@]}" -eq 0 ] && return 0
	log "installing ${missing[*]} (apt-get) for the nginx baseline"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$TEST_TMP/apt.log" 2>&1 ||
		{ [ "$created" = 0 ] || rm -f /usr/sbin/policy-rc.d; fail "apt-get install ${missing[*]} failed (see $TEST_TMP/apt.log)"; }
	[ "$created" = 0 ] || rm -f /usr/sbin/policy-rc.d
}

bench_nginx() {
	local root="$1" port="$2"
	mkdir -p "$TEST_TMP/nginx"
	cat >"$TEST_TMP/nginx/nginx.conf" <<EOF2
# Debian's defaults that matter for static files: one worker per core, sendfile
worker_processes auto;
user root;
daemon off;
pid $TEST_TMP/nginx/nginx.pid;
error_log $TEST_TMP/nginx/error.log;
events { worker_connections 1024; }
http {
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	access_log off;
	types { application/json json; application/octet-stream img; }
	client_body_temp_path $TEST_TMP/nginx;
	proxy_temp_path $TEST_TMP/nginx;
	fastcgi_temp_path $TEST_TMP/nginx;
	uwsgi_temp_path $TEST_TMP/nginx;
	scgi_temp_path $TEST_TMP/nginx;
	server {
		listen 127.0.0.1:$port;
		root $root;
		etag on;
	}
}
EOF2
	bg_ns "$CC_NS" "$TEST_TMP/nginx/stdout.log" nginx -c "$TEST_TMP/nginx/nginx.conf" >/dev/null
	wait_for 10 "nginx on 127.0.0.1:$port" in_ns "$CC_NS" curl -s -o /dev/null "http://127.0.0.1:$port/"
}

# wrk's summary as "requests/s bytes/s p99(ms)"
wrk_run() {
	in_ns "$CC_NS" wrk --latency "$@" >"$TEST_TMP/wrk.out" 2>&1 || fail "wrk failed: $(cat "$TEST_TMP/wrk.out")"
	python3 - "$TEST_TMP/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?)B", t)
bps = float(m.group(1)) * units[m.group(2)]
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errors:
    print("wrk: %s non-2xx responses" % errors.group(1), file=sys.stderr)
    sys.exit(1)
print("%.1f %.0f %.2f" % (rps, bps, p99))
PY
}
