# Python's standard forking server (socketserver.ForkingTCPServer: the parent
# accepts, a child per connection serves it): an echo service.
import socketserver, sys

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                return
            self.request.sendall(b)

socketserver.ForkingTCPServer.allow_reuse_address = True
with socketserver.ForkingTCPServer((sys.argv[1], int(sys.argv[2])), Echo) as srv:
    print("listening", flush=True)
    srv.serve_forever()
