# hold.py PORT N READY RELEASE: opens N connections to 127.0.0.1:PORT, each with half a request (headers
# never finished), writes N to READY once all are open, and holds them until RELEASE exists (60 s at most).
import os, socket, sys, time
port, n, ready, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(b'GET /health HTTP/1.1\r\nHost: localhost\r\n')
    socks.append(s)
open(ready, 'w').write(str(len(socks)))
deadline = time.time() + 60
while not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.05)
