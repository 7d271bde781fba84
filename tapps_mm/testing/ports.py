"""Free TCP ports for the tests that start servers (torch rendezvous, Slurm daemons)."""
from __future__ import annotations

import socket


def free_ports(count: int = 1) -> list[int]:
    """Distinct free TCP ports (held open together so that they differ; a small race remains)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
