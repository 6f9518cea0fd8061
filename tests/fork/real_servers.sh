# Debian's multi-process servers in their usual shape under xway-run, driven by
# real clients under xway-run, every byte checked, the ring asserted:
#   nginx: a master that opens the listener and forks two workers (which drop
#          root for nobody when run as root) that accept on it (epoll,
#          EPOLLEXCLUSIVE); curl fetches a 4 MiB file, sha256 compared;
#   python3's socketserver.ForkingTCPServer: the parent accepts, a child per
#          connection serves it.
. "$2/tests/lib.sh"
shim_env "$@"
command -v nginx >/dev/null || die "nginx is not installed (scripts/install-deps.sh)"

# nginx, master + 2 workers (daemon off: the parent stays, as under a supervisor).
NG=$WORK/ng
mkdir -p "$NG/www" "$NG/logs"
chmod 755 "$WORK" "$NG" "$NG/www"
head -c 4194304 /dev/urandom >"$NG/www/big.bin"
chmod 644 "$NG/www/big.bin"
want=$(sha256sum <"$NG/www/big.bin")
cat >"$NG/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $NG/logs/access.log;
    sendfile on;
    server { listen 10.77.9.1:8080; root $NG/www; }
}
CONF
bg -e "$WORK/ng.err" "$WORK/ng.out" \
    timeout 150 env XWAY_ADDR=10.77.9.1/24 "$RUN" nginx -c "$NG/nginx.conf" -p "$NG"
NGPID=$LAST_PID
wait_line "$WORK/ng.err" "listening on port 8080" 10 $NGPID
for _ in $(seq 100); do
    [ "$(grep -c 'start worker process' "$NG/logs/error.log")" -ge 2 ] && break
    sleep 0.1
done
for i in 1 2 3 4 5 6; do
    timeout 60 env XWAY_ADDR=10.77.9.$((10 + i))/24 "$RUN" curl -sS -o "$WORK/got$i" \
        http://10.77.9.1:8080/big.bin 2>"$WORK/curl$i.err" &
done
wait_jobs() { local rc=0; for j in $(jobs -p); do [ "$j" = "$NGPID" ] || wait "$j" || rc=1; done; return $rc; }
wait_jobs || die "curl failed: $(cat "$WORK"/curl*.err | tail -5)"
for i in 1 2 3 4 5 6; do
    [ "$(sha256sum <"$WORK/got$i")" = "$want" ] || die "nginx: fetch $i differs"
    ring_used "$WORK/curl$i.err"
done
served=$(cat "$WORK/ng.err" "$NG/logs/error.log" | grep -c "from the owner.s listener (ring path")
[ "$served" -ge 6 ] || die "nginx: $served of 6 connections accepted by a worker on the ring"
kill -QUIT $NGPID
wait $NGPID || true
echo "ok: nginx master + 2 workers served 6 x 4 MiB over the ring, sha256 identical"

# python3 socketserver.ForkingTCPServer.
bg -e "$WORK/py.err" "$WORK/py.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" python3 "$2/tests/fork/forking_server.py" 10.77.9.1 41700
PY=$LAST_PID
wait_line "$WORK/py.out" listening 10 $PY
timeout 100 env XWAY_ADDR=10.77.9.2/24 "$RUN" "$BUILD/tests/fork/fork_echo" client 10.77.9.1 41700 8 2000000 \
    >"$WORK/pycli.out" 2>"$WORK/pycli.err" || die "forking server client: $(cat "$WORK/pycli.out")"
grep -q "verified 8 of 8" "$WORK/pycli.out" || die "forking server: client did not verify"
[ "$(grep -c 'ring path' "$WORK/pycli.err")" = 8 ] || die "forking server: not all on the ring"
kill $PY
echo "ok: python3 ForkingTCPServer echoed 8 x 2 MB over the ring"
