# Node.js (libuv's event loop: epoll, and syscall(SYS_close, fd) for every
# close) serving HTTP under xway-run to curl and ab under xway-run: a 5 MB
# POST hashed by the server (sha256 compared), 1000 requests from one client
# and 2000 from 8 (asking for keep-alive, which node's server declines for
# ab's HTTP/1.0), each 64 KiB response's length checked by ab; the server's
# fds come back to where they were (a close through syscall() left every
# connection's socket open before).
. "$(dirname "$0")/../lib.sh"
shim_env "$@"
command -v node >/dev/null || die "node is not installed (scripts/install-deps.sh)"
command -v ab >/dev/null || die "ab is not installed (scripts/install-deps.sh)"
cat >"$WORK/srv.js" <<'JS'
const http = require('http');
const crypto = require('crypto');
const body = Buffer.alloc(65536, 'x');
http.createServer((req, res) => {
  if (req.method === 'POST') {
    const h = crypto.createHash('sha256');
    req.on('data', d => h.update(d));
    req.on('end', () => res.end(h.digest('hex')));
  } else res.end(body);
}).listen(41590, '10.77.14.1', () => console.log('listening'));
JS
bg -e "$WORK/node.err" "$WORK/node.out" timeout 120 env XWAY_ADDR=10.77.14.1/24 "$RUN" node "$WORK/srv.js"
NODE=$LAST_PID
wait_line "$WORK/node.out" listening 20 $NODE
NPID=$(pgrep_here -f "node $WORK/srv.js" | tail -1)
fds0=$(ls /proc/$NPID/fd | wc -l)
C="timeout 100 env XWAY_ADDR=10.77.14.2/24 $RUN"
head -c 5000000 /dev/urandom >"$WORK/post.bin"
want=$(sha256sum <"$WORK/post.bin" | cut -d' ' -f1)
got=$($C curl -sS --data-binary @"$WORK/post.bin" http://10.77.14.1:41590/ 2>"$WORK/curl.err") ||
    die "curl: $(cat "$WORK/curl.err")"
[ "$got" = "$want" ] || die "the server hashed $got, we sent $want"
ring_used "$WORK/curl.err"
for args in "-n 1000 -c 1" "-n 2000 -c 8 -k"; do
    $C ab -q $args http://10.77.14.1:41590/ >"$WORK/ab.out" 2>"$WORK/ab.err" ||
        die "ab $args: $(tail -3 "$WORK/ab.out" "$WORK/ab.err")"
    n=${args#-n }
    grep -q "Complete requests: *${n%% *}\$" "$WORK/ab.out" || die "ab $args: $(cat "$WORK/ab.out")"
    grep -q "Failed requests: *0\$" "$WORK/ab.out" || die "ab $args: $(cat "$WORK/ab.out")"
    grep -q "Document Length: *65536 bytes" "$WORK/ab.out" || die "ab $args: $(cat "$WORK/ab.out")"
done
ring_used "$WORK/ab.err"
for _ in $(seq 50); do [ "$(ls /proc/$NPID/fd | wc -l)" -le $((fds0 + 4)) ] && break; sleep 0.1; done
fds=$(ls /proc/$NPID/fd | wc -l)
[ "$fds" -le $((fds0 + 4)) ] || die "node holds $fds fds after 3000 connections, $fds0 before"
echo "ok: node's HTTP server: a 5 MB POST's sha256, 3000 requests over the ring, none failed, fds $fds0 -> $fds"
