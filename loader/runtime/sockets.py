"""The listening socket of ``loader start`` and ``loader develop``, bound by loader itself.

Binding before the server starts lets a port in use, a port that needs privileges or an address
this machine does not have be one clear line naming the address, instead of a traceback from
deep inside the server (or a server that says it is serving and then exits). The develop
parent binds once and hands the socket to every child it starts.
"""

from __future__ import annotations

import errno
import socket

from loader.errors import ConfigError

__all__ = ["listen"]

_REASONS = {
    errno.EADDRINUSE: "the address is already in use (another server runs there? choose another with --port)",
    errno.EACCES: "permission denied (ports below 1024 need privileges; choose another with --port)",
    errno.EADDRNOTAVAIL: "this machine has no such address (choose another with --host)",
}


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, inheritable by a child process.

    Raises:
        ConfigError: the address cannot be listened on; the message says why and what to do.
    """
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted connections only for
    # TCP sockets it recognises as such; without it every response waits ~40 ms on delayed ACKs.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        reason = _REASONS.get(exc.errno or 0) or (
            "no such host (choose another with --host)" if isinstance(exc, socket.gaierror) else exc.strerror or str(exc)
        )
        raise ConfigError(f"cannot listen on {where}: {reason}") from None
    sock.set_inheritable(True)
    return sock
