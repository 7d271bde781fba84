"""Free TCP ports for the tests that start servers (torch rendezvous, Slurm daemons)."""
from __future__ import annotations

import random
import socket

# Ports the kernel hands out by itself (outgoing connections, bind to port 0) come from this range;
# gloo opens many such connections in tests running beside ours. A port chosen below it is not
# taken by the kernel in the seconds before the server binds it.
_EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'
_LOWEST = 10000


def _ephemeral_low() -> int:
    try:
        with open(_EPHEMERAL_RANGE_FILE) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(('', port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> list[int]:
    """Distinct free TCP ports below the kernel's ephemeral range (a small race with other explicit
    choosers remains)."""
    low = _ephemeral_low()
    candidates = list(range(_LOWEST, low) if low > _LOWEST + 1000 else range(1024, 65536))
    random.SystemRandom().shuffle(candidates)
    ports = [p for p in candidates[:50 * count] if _bindable(p)][:count]
    if len(ports) < count:
        raise RuntimeError(f'found fewer than {count} free TCP ports among {50 * count} tried')
    return ports
