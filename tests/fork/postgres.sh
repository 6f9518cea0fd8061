# PostgreSQL as Debian runs it, under xway-run: the postmaster as user
# postgres (its own umask, 077), a backend forked per connection that claims
# its ring connection from the postmaster's pump, clients of another user
# (root) on the same hub and sim host, whose directories let both users join
# (mode 0777: the hub's sockets and the sim's files follow the directory's
# permissions, not the process's umask).  psql copies 20000 random lines in
# and reads their md5 back; pgbench (4 clients) runs its TPC-B-like load with
# no failed transaction; every connection on the ring.
. "$2/tests/lib.sh"
shim_env "$@"
PGB=/usr/lib/postgresql/15/bin
[ -x $PGB/postgres ] && [ -x $PGB/pgbench ] || die "postgresql-15 is not installed (scripts/install-deps.sh)"
id postgres >/dev/null 2>&1 || die "no user postgres (scripts/install-deps.sh installs postgresql-15)"
chmod 755 "$WORK"
chmod 777 "$HUB" "$XWAY_HOST"
D=$WORK/pg
mkdir -p "$D"
chown postgres "$D"
runuser -u postgres -- $PGB/initdb -D "$D/data" -A trust >"$WORK/initdb.out" 2>&1 ||
    die "initdb: $(tail -5 "$WORK/initdb.out")"
echo "host all all 10.77.92.0/24 trust" >>"$D/data/pg_hba.conf"
cat >>"$D/data/postgresql.conf" <<CONF
listen_addresses = '10.77.92.1'
unix_socket_directories = '$D'
port = 5432
max_connections = 20
fsync = off
CONF
bg -e "$WORK/pg.err" "$WORK/pg.out" timeout 150 runuser -u postgres -- env XWAY_ADDR=10.77.92.1/24 \
    XWAY_LINK="$XWAY_LINK" XWAY_HOST="$XWAY_HOST" XWAY_LOG=info "$RUN" $PGB/postgres -D "$D/data"
PG=$LAST_PID
wait_line "$WORK/pg.err" "ready to accept connections" 30 $PG
C="env XWAY_ADDR=10.77.92.2/24 XWAY_LOG=info timeout 60 $RUN"
[ "$($C psql -h 10.77.92.1 -U postgres -Atc 'select 6*7' 2>"$WORK/psql1.err")" = 42 ] ||
    die "psql: $(cat "$WORK/psql1.err")"
ring_used "$WORK/psql1.err"

# 20000 random lines in through COPY, their md5 back from the server.
head -c 1500000 /dev/urandom | base64 -w 100 | head -n 20000 >"$WORK/lines"
want=$(printf '%s' "$(cat "$WORK/lines")" | md5sum | cut -d' ' -f1)
$C psql -h 10.77.92.1 -U postgres -q -v ON_ERROR_STOP=1 \
    -c "create table lines (id serial primary key, l text)" \
    -c "\\copy lines (l) from '$WORK/lines'" >"$WORK/copy.out" 2>"$WORK/copy.err" ||
    die "psql copy: $(tail -5 "$WORK/copy.err")"
got=$($C psql -h 10.77.92.1 -U postgres -Atc \
    "select md5(string_agg(l, E'\\n' order by id)) from lines" 2>"$WORK/md5.err")
[ "$got" = "$want" ] || die "the lines' md5: the server has $got, we sent $want ($(tail -3 "$WORK/md5.err"))"
ring_used "$WORK/copy.err"

# pgbench: its tables, then 4 clients for 3 s.
$C pgbench -h 10.77.92.1 -U postgres -i -s 1 postgres >"$WORK/init.out" 2>&1 ||
    die "pgbench -i: $(tail -5 "$WORK/init.out")"
$C pgbench -h 10.77.92.1 -U postgres -c 4 -j 2 -T 3 postgres >"$WORK/bench.out" 2>"$WORK/bench.err" ||
    die "pgbench: $(tail -5 "$WORK/bench.out" "$WORK/bench.err")"
grep -q "number of failed transactions: 0 " "$WORK/bench.out" || die "pgbench: $(cat "$WORK/bench.out")"
n=$(grep -a "number of transactions actually processed" "$WORK/bench.out" | awk '{print $NF}')
[ "${n:-0}" -gt 0 ] || die "pgbench processed nothing: $(cat "$WORK/bench.out")"
rings=$(grep -ac "fd [0-9]*: ring path" "$WORK/bench.err")
[ "$rings" -ge 4 ] || die "pgbench: $rings of its 4+ connections on the ring"
claimed=$(grep -ac "claimed by the process that holds it" "$WORK/pg.err")
[ "$claimed" -ge 8 ] || die "postgres: $claimed connections claimed by their backends"
! grep -a "hub: endpoint .*another user" "$WORK"/*.err || die "a stack could not reach another user's"

kill -INT $PG
for _ in $(seq 100); do kill -0 $PG 2>/dev/null || break; sleep 0.1; done
! kill -0 $PG 2>/dev/null || die "postgres did not stop in 10 s"
echo "ok: postgres (user postgres, a backend per connection) served psql and pgbench (user root) over the ring: 20000 lines' md5 equal, $n transactions, none failed"
