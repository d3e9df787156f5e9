#!/usr/bin/env python3
"""Stands in for systemd's notify socket: binds one datagram socket per name and writes every
notification as one line "<wall-clock seconds (CLOCK_REALTIME)> <name> <sender pid> <assignment>" to stdout,
flushed at once. The sender's pid comes from the kernel (SO_PASSCRED), as systemd reads it for
NotifyAccess=main.

usage: notify-listen.py DIR NAME...   (sockets DIR/NAME.notify, writable by the service users)
"""
import os
import select
import socket
import struct
import sys
import time


def main() -> int:
    directory, names = sys.argv[1], sys.argv[2:]
    sockets = {}
    for name in names:
        path = os.path.join(directory, name + ".notify")
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.bind(path)
        os.chmod(path, 0o666)
        sockets[sock.fileno()] = (name, sock)
    print(f"{time.time():.6f} listener {os.getpid()} LISTENING=1", flush=True)
    poller = select.poll()
    for fd in sockets:
        poller.register(fd, select.POLLIN)
    ucred_size = struct.calcsize("3i")
    while True:
        for fd, _ in poller.poll():
            name, sock = sockets[fd]
            data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(ucred_size))
            pid = 0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:ucred_size])[0]
            now = time.time()
            for assignment in data.decode("utf-8", "replace").splitlines():
                if assignment:
                    print(f"{now:.6f} {name} {pid} {assignment}", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
