#!/usr/bin/env python3
"""A Linux TCP endpoint for tests/inject.rs, run inside a network namespace of the test's own.

  server ADDR PORT        listens; once a client connected and its 5 bytes arrived, prints
                          "accepted", then answers commands on stdin
  client ADDR PORT IFACE  connects, sends b"hello", prints the Ethernet frame that carried it (hex,
                          as captured on IFACE), then answers commands on stdin
  synack IFACE PORT       prints "ready", then the first SYN-ACK sent from PORT on IFACE as
                          "synack ack=<n> flags=<hex>" (or "timeout" after 10 s)

Commands: "state" prints the socket's state now; "wait SECONDS" waits until it is not "alive" (or
the time is up) and prints it; "quit". A state is "alive", "ECONNRESET", "closed" or an errno name.
"""
import errno
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def state(sock):
    try:
        data = sock.recv(100, socket.MSG_DONTWAIT)
        return "closed" if data == b"" else "data"
    except BlockingIOError:
        return "alive"
    except ConnectionResetError:
        return "ECONNRESET"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def commands(sock):
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            return
        if cmd[0] == "state":
            print(state(sock), flush=True)
        elif cmd[0] == "wait":
            deadline = time.time() + float(cmd[1])
            s = state(sock)
            while s == "alive" and time.time() < deadline:
                time.sleep(0.02)
                s = state(sock)
            print(s, flush=True)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp_of(frame):
    """(ip version, tcp header offset, ip payload end) of an Ethernet frame carrying TCP."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800 and frame[23] == 6:
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        return 4, 14 + ihl, 14 + total
    if ethertype == 0x86DD and frame[20] == 6:
        plen = struct.unpack("!H", frame[18:20])[0]
        return 6, 54, 54 + plen
    return None


def sniffer(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(10)
    return s


def main():
    mode = sys.argv[1]
    if mode == "server":
        addr, port = sys.argv[2], int(sys.argv[3])
        listener = socket.socket(family(addr), socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((addr, port))
        listener.listen()
        print("listening", flush=True)
        sock, _ = listener.accept()
        got = b""
        while len(got) < 5:
            got += sock.recv(5 - len(got))
        print("accepted", flush=True)
        commands(sock)
    elif mode == "client":
        addr, port, iface = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        sniff = sniffer(iface)
        sock = socket.create_connection((addr, port), timeout=5)
        sock.settimeout(None)
        sock.send(b"hello")
        while True:
            frame, where = sniff.recvfrom(65535)
            t = tcp_of(frame)
            if where[2] != PACKET_OUTGOING or t is None:
                continue
            _, tcp, end = t
            doff = (frame[tcp + 12] >> 4) * 4
            if frame[tcp + doff:end] == b"hello":
                print(frame.hex(), flush=True)
                break
        commands(sock)
    elif mode == "synack":
        iface, port = sys.argv[2], int(sys.argv[3])
        sniff = sniffer(iface)
        print("ready", flush=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                frame, where = sniff.recvfrom(65535)
            except socket.timeout:
                break
            t = tcp_of(frame)
            if where[2] != PACKET_OUTGOING or t is None:
                continue
            _, tcp, _ = t
            sport = struct.unpack("!H", frame[tcp:tcp + 2])[0]
            flags = frame[tcp + 13]
            if sport == port and flags & 0x12 == 0x12:
                ack = struct.unpack("!I", frame[tcp + 8:tcp + 12])[0]
                print("synack ack=%d flags=%02x" % (ack, flags), flush=True)
                return
        print("timeout", flush=True)


main()
