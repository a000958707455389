"""`make bench`'s capture traffic: TCP transfers between two network namespaces.

server ADDR PORT      serve: read a size in ASCII, send that many bytes, close
client ADDR PORT N..  fetch each size N from the server, all at once (one flow each)
"""
import socket
import sys
import threading


def serve(conn):
    want = int(conn.recv(64).split()[0])
    conn.sendall(b"x" * want)
    conn.close()


def fetch(addr, port, size):
    conn = socket.create_connection((addr, port))
    conn.sendall(b"%d\n" % size)
    while conn.recv(65536):
        pass
    conn.close()


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((addr, port))
        listener.listen(64)
        print("listening", flush=True)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    flows = [threading.Thread(target=fetch, args=(addr, port, int(n))) for n in sys.argv[4:]]
    for f in flows:
        f.start()
    for f in flows:
        f.join()


main()
