# The crash test's client: a connection whose worker dies mid-transfer must end
# with an error or an early EOF, never hang.  Prints what happened.
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
data = b"K" + bytes(range(256)) * 4096  # ~1 MiB: more than the first echo
got = 0
err = "eof"
try:
    s.sendall(data[:65536])
    while got < 65536:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    s.sendall(data[65536:])
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
except OSError as e:
    err = type(e).__name__
print("crash-client: sent %d, got %d back, ended with %s" % (len(data), got, err))
sys.exit(0 if got < len(data) else 1)
