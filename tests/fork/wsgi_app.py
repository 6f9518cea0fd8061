# A WSGI app for tests/fork/real_servers.sh (gunicorn): GET returns the file
# named by BIG_FILE, POST echoes its body.
import os
BIG = os.environ.get("BIG_FILE")
def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]
    with open(BIG, "rb") as f:
        data = f.read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))])
    return [data]
