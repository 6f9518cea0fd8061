# Debian's multi-process servers in their usual shape under xway-run, driven by
# real clients under xway-run, every byte checked, the ring asserted:
#   nginx: a master that opens the listener and forks two workers (which drop
#          root for nobody when run as root) that accept on it (epoll,
#          EPOLLEXCLUSIVE) and serve their ring connections themselves, as a
#          daemon and not, and with `listen ... reuseport` (one SO_REUSEPORT
#          listener per worker); curl fetches a 4 MiB file, sha256 compared;
#   python3's socketserver.ForkingTCPServer: the parent accepts, a child per
#          connection serves it;
#   openbsd-inetd: accepts, forks, and the child execs the service program
#          (sha256sum) on the connection (stdin and stdout), as inetd does;
#   nginx as a reverse proxy: its workers connect out (nonblocking, epoll) to
#          an upstream (python3's http.server) through the master's stack;
#   gunicorn: an arbiter that opens the listener and forks two sync workers
#          (select, then accept; no change of user) serving a WSGI app: each
#          worker serves its ring connections itself (a satellite); curl
#          fetches 4 MiB and posts 1 MB, every byte compared.
. "$2/tests/lib.sh"
shim_env "$@"
command -v nginx >/dev/null || die "nginx is not installed (scripts/install-deps.sh)"
command -v gunicorn >/dev/null || die "gunicorn is not installed (scripts/install-deps.sh)"
[ -x /usr/sbin/inetd ] || die "inetd (openbsd-inetd) is not installed (scripts/install-deps.sh)"

# nginx, master + 2 workers: as a daemon (its default: the process that opened
# the listener exits, a keeper holds its stack) and in the foreground (daemon
# off, as under a supervisor).
NG=$WORK/ng
mkdir -p "$NG/www" "$NG/logs"
chmod 755 "$WORK" "$NG" "$NG/www"
head -c 4194304 /dev/urandom >"$NG/www/big.bin"
chmod 644 "$NG/www/big.bin"
want=$(sha256sum <"$NG/www/big.bin")
want4=$want
# fetch_start TAG NET URL: 4 curls under xway-run (from 10.77.9.NET+1..4) fetch
# URL into $WORK/TAG1..4, in the background; fetch_wait TAG WHAT: all succeeded.
fetch_start() {
    CURLS=()
    for i in 1 2 3 4; do
        timeout 60 env XWAY_ADDR=10.77.9.$(($2 + i))/24 "$RUN" curl -sS -o "$WORK/$1$i" "$3" \
            2>"$WORK/$1$i.err" &
        CURLS+=($!)
    done
}
fetch_wait() {
    for c in "${CURLS[@]}"; do
        wait "$c" || die "$2: curl failed: $(cat "$WORK/$1"?.err | tail -3)"
    done
}
wait_jobs_but() { local rc=0; for j in $(jobs -p); do [ "$j" = "$1" ] || wait "$j" || rc=1; done; return $rc; }
# nginx_start DAEMON NAME SERVER-BLOCK: nginx, master + 2 workers, on 10.77.9.1
# (output in $WORK/NAME.out and .err, pid in NGPID), once both workers run.
nginx_start() {
    : >"$NG/logs/error.log"
    cat >"$NG/nginx.conf" <<CONF
daemon $1;
master_process on;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $NG/logs/access.log;
    sendfile on;
    $3
}
CONF
    timeout 150 env XWAY_ADDR=10.77.9.1/24 "$RUN" nginx -c "$NG/nginx.conf" -p "$NG" \
        >"$WORK/$2.out" 2>"$WORK/$2.err" &
    NGPID=$!
    for _ in $(seq 100); do
        [ "$(grep -c 'start worker process' "$NG/logs/error.log")" -ge 2 ] && break
        sleep 0.1
    done
}
for variant in on off reuseport; do
    daemon=$variant reuseport=""
    [ $variant = reuseport ] && daemon=off reuseport=" reuseport"
    nginx_start $daemon ng-$variant "server { listen 10.77.9.1:8080$reuseport; root $NG/www; }"
    master=$(cat "$NG/nginx.pid")
    for i in 1 2 3 4 5 6; do
        timeout 60 env XWAY_ADDR=10.77.9.$((10 + i))/24 "$RUN" curl -sS -o "$WORK/got$i" \
            http://10.77.9.1:8080/big.bin 2>"$WORK/curl$i.err" &
    done
    [ $daemon = on ] && wait $NGPID # the daemon's parent exited at once
    wait_jobs_but $NGPID || die "curl failed: $(cat "$WORK"/curl*.err | tail -5)"
    for i in 1 2 3 4 5 6; do
        [ "$(sha256sum <"$WORK/got$i")" = "$want" ] || die "nginx (daemon $daemon): fetch $i differs"
        ring_used "$WORK/curl$i.err"
    done
    served=$(cat "$WORK/ng-$variant.err" "$NG/logs/error.log" |
        grep -ac "from the owner.s listener (ring path, served in this process")
    [ "$served" -ge 6 ] || die "nginx (daemon $daemon): $served of 6 connections served by a worker itself"
    if [ $variant = off ]; then
        # One client process, 8 connections one after another (Connection:
        # close): the rings its workers served are parked by the master once
        # each worker has let go of it, and taken again by the next connection.
        args=()
        kept0=$(grep -ac "its ring is still mapped here" "$NG/logs/error.log" || true)
        for i in 1 2 3 4 5 6 7 8; do args+=(-o "$WORK/seq$i" http://10.77.9.1:8080/big.bin); done
        timeout 60 env XWAY_ADDR=10.77.9.30/24 "$RUN" curl -sS -H 'Connection: close' "${args[@]}" \
            2>"$WORK/seq.err" || die "sequential fetches: $(tail -3 "$WORK/seq.err")"
        for i in 1 2 3 4 5 6 7 8; do
            [ "$(sha256sum <"$WORK/seq$i")" = "$want" ] || die "nginx: sequential fetch $i differs"
        done
        parked=$(grep -c "ring path (a parked ring)" "$WORK/seq.err")
        [ "$(grep -c "ring path" "$WORK/seq.err")" = 8 ] || die "sequential fetches: not all on the ring"
        [ "$parked" -ge 2 ] || die "sequential fetches: $parked of 8 on a parked ring"
        # A worker that served a ring before kept its mapping: the first
        # connection of each worker on the ring maps it, the others do not.
        kept=$(($(grep -ac "its ring is still mapped here" "$NG/logs/error.log" || true) - kept0))
        [ "$kept" -ge $((parked - 2)) ] && [ "$kept" -ge 1 ] ||
            die "sequential fetches: $kept of $parked on a parked ring found their mapping kept"
        echo "ok: nginx: 8 sequential connections from one client, $parked on a parked ring ($kept still mapped in their worker), sha256 identical"
    fi
    if [ -n "$reuseport" ]; then
        # One listener per worker in an SO_REUSEPORT group: both get connections.
        w=$(cat "$WORK/ng-$variant.err" "$NG/logs/error.log" | grep -a "from the owner.s listener" |
            grep -ao "xway-shim\[[0-9]*\]" | sort -u | wc -l)
        [ "$w" = 2 ] || die "nginx reuseport: connections accepted by $w workers, not 2"
    fi
    kill -QUIT "$master"
    for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$master" 2>/dev/null || die "nginx (daemon $daemon): the master did not stop in 10 s"
    [ $daemon = off ] && { wait $NGPID || true; }
    if [ $daemon = on ]; then
        k=$(grep -ao "keeper [0-9]*: the listeners" "$WORK/ng-$variant.err" | awk '{print $2}' | tr -d :)
        [ -n "$k" ] || die "nginx as a daemon: no keeper: $(cat "$WORK/ng-$variant.err")"
        for _ in $(seq 100); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
        ! kill -0 "$k" 2>/dev/null || die "nginx as a daemon: keeper $k outlived nginx"
    fi
    echo "ok: nginx (daemon $daemon$reuseport) master + 2 workers served 6 x 4 MiB over the ring, sha256 identical"
done

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
wait $PY 2>/dev/null || true # (its address is the next server's: gone first)
# Its children serve the connections themselves (claimed from the pump).
[ "$(grep -c 'claimed from the owner.s pump: served in this process' "$WORK/py.err")" = 8 ] ||
    die "forking server: $(grep -c 'claimed from' "$WORK/py.err") of 8 connections served in their child: $(grep -i 'claim' "$WORK/py.err" | head -5)"
echo "ok: python3 ForkingTCPServer echoed 8 x 2 MB over the ring, each served in its child"

# openbsd-inetd in the foreground (-d) with its own configuration: a nowait
# service, one forked and exec'd sha256sum per connection.
printf '10.77.9.1:41710 stream tcp nowait %s /usr/bin/sha256sum sha256sum\n' "$(id -un)" >"$WORK/inetd.conf"
bg -e "$WORK/inetd.err" "$WORK/inetd.out" \
    timeout 100 env XWAY_ADDR=10.77.9.1/24 "$RUN" /usr/sbin/inetd -d "$WORK/inetd.conf"
IN=$LAST_PID
wait_line "$WORK/inetd.err" "ADD: 10.77.9.1:41710" 10 $IN
head -c 4194304 /dev/urandom >"$WORK/in.bin"
want=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)
for i in 1 2 3 4; do
    timeout 60 env XWAY_ADDR=10.77.9.$((20 + i))/24 "$RUN" nc -N 10.77.9.1 41710 <"$WORK/in.bin" \
        >"$WORK/inetd$i.got" 2>"$WORK/inetd$i.err" &
done
wait_jobs_but $IN || die "inetd: a client failed: $(cat "$WORK"/inetd?.err | tail -5)"
for i in 1 2 3 4; do
    [ "$(cut -d' ' -f1 <"$WORK/inetd$i.got")" = "$want" ] ||
        die "inetd: connection $i: sha256sum said '$(cat "$WORK/inetd$i.got")'"
    ring_used "$WORK/inetd$i.err"
done
[ "$(grep -c "execv /usr/bin/sha256sum" "$WORK/inetd.err")" = 4 ] ||
    die "inetd: not one exec'd service per connection: $(cat "$WORK/inetd.err")"
kill $IN
wait $IN 2>/dev/null || true
echo "ok: openbsd-inetd ran sha256sum on 4 x 4 MiB connections over the ring (fork + exec)"

# nginx as a reverse proxy: the workers' own outgoing connections to the
# upstream are made by the master's stack (the process channel), on the ring.
bg -e "$WORK/up.err" "$WORK/up.out" timeout 100 env XWAY_ADDR=10.77.9.7/24 "$RUN" \
    python3 -m http.server 8082 --bind 10.77.9.7 --directory "$NG/www"
UP=$LAST_PID
nginx_start off ngp "server { listen 10.77.9.1:8081; location / { proxy_pass http://10.77.9.7:8082; } }"
for _ in $(seq 50); do grep -q "Serving HTTP" "$WORK/up.out" "$WORK/up.err" && break; sleep 0.1; done
fetch_start px 30 http://10.77.9.1:8081/big.bin
fetch_wait px "nginx proxy"
for i in 1 2 3 4; do
    [ "$(sha256sum <"$WORK/px$i")" = "$want4" ] ||
        die "nginx proxy: fetch $i differs: $(cat "$WORK/px$i.err" "$NG/logs/error.log" | tail -5)"
done
n=$(cat "$WORK/ngp.err" "$NG/logs/error.log" | grep -ac "connected through the owner's stack (ring path")
[ "$n" -ge 4 ] || die "nginx proxy: $n of 4 upstream connections through the master's stack on the ring"
kill -QUIT "$(cat "$NG/nginx.pid")"
wait $NGPID || true
kill $UP
echo "ok: nginx as a reverse proxy: its workers' upstream connections through the master's stack, on the ring, 4 x 4 MiB intact"

# gunicorn, arbiter + 2 sync workers: the workers serve the ring connections
# they accept themselves (satellites), no pump.
bg -e "$WORK/gu.err" "$WORK/gu.out" timeout 100 env BIG_FILE="$NG/www/big.bin" XWAY_ADDR=10.77.9.1/24 \
    "$RUN" gunicorn -w 2 -b 10.77.9.1:8090 --chdir "$2/tests/fork" wsgi_app:app
GU=$LAST_PID
wait_line "$WORK/gu.err" "Booting worker" 20 $GU
for _ in $(seq 50); do [ "$(grep -c "Booting worker" "$WORK/gu.err")" -ge 2 ] && break; sleep 0.1; done
head -c 1000000 /dev/urandom >"$WORK/post.bin"
fetch_start gu 40 http://10.77.9.1:8090/big.bin
timeout 60 env XWAY_ADDR=10.77.9.45/24 "$RUN" curl -sS --data-binary @"$WORK/post.bin" \
    -o "$WORK/gupost" http://10.77.9.1:8090/ 2>"$WORK/gu5.err" || die "gunicorn: POST failed: $(cat "$WORK/gu5.err")"
fetch_wait gu gunicorn
for i in 1 2 3 4; do
    [ "$(sha256sum <"$WORK/gu$i")" = "$want4" ] || die "gunicorn: fetch $i differs"
    ring_used "$WORK/gu$i.err"
done
cmp -s "$WORK/post.bin" "$WORK/gupost" || die "gunicorn: the POST body came back different"
n=$(grep -ac "from the owner.s listener (ring path, served in this process" "$WORK/gu.err")
[ "$n" = 5 ] || die "gunicorn: $n of 5 connections served by the workers themselves: $(tail -5 "$WORK/gu.err")"
kill -TERM $GU
wait $GU || true
echo "ok: gunicorn arbiter + 2 workers served 4 x 4 MiB and a 1 MB POST over the ring, in the workers"
