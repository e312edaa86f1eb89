"""The bridge driver's firewall: one nftables table of capsa's own per bridge.

Table ``ip capsa_<bridge>`` holds three base chains: ``postrouting`` (NAT) masquerades traffic
from the network's subnet that leaves it (not for ``internal`` networks), ``forward``
accepts what comes from the bridge and the replies to it (an ``internal`` network's traffic
leaving the bridge is dropped; other tables, such as a host firewall with a drop policy, still
have their say), and ``guard`` drops packets from the bridge addressed to 127.0.0.0/8 before
routing: published ports turn ``route_localnet`` on for the bridge, which must not let a
container (one with NET_RAW) reach the host's loopback-only services (CVE-2020-8558). The whole table is written in one ``nft``
transaction (created or replaced: idempotent) and removed with it; nothing outside it is
touched. ``nft`` runs as a subprocess reading a script on stdin.
"""
from __future__ import annotations

import os

from capsa.errors import NetworkError


def table_name(bridge: str) -> str:
    """The table of ``bridge`` (nft names: letters, digits and underscores). One table per
    bridge name: letters and digits stay, ``_`` doubles, any other character becomes ``_`` and
    its two hex digits (``a-b`` and ``a_b`` are different bridges)."""
    return "capsa_" + "".join(c if c.isascii() and c.isalnum() else "__" if c == "_" else f"_{ord(c):02x}"
                              for c in bridge)


def _nft(script: str, *, check: bool = True) -> tuple[int, str]:
    import shutil
    import subprocess

    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else "")
    if not nft:
        if not check:
            return 1, "nft not found"
        raise NetworkError("the bridge network driver needs nftables' nft program", hint="install the nftables package")
    proc = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    if check and proc.returncode != 0:
        line = (proc.stderr.strip().splitlines() or ["failed"])[0]
        raise NetworkError(f"nft: {line}", hint="capsa needs CAP_NET_ADMIN and nf_tables in the kernel")
    return proc.returncode, proc.stderr


def ensure(bridge: str, subnet: str, internal: bool) -> None:
    """Create (or rewrite) the table of ``bridge`` for ``subnet``."""
    table = table_name(bridge)
    nat = "" if internal else f"ip saddr {subnet} ip daddr != {subnet} masquerade"
    # an internal network's containers reach each other only, nothing beyond the bridge
    isolate = f'iifname "{bridge}" oifname != "{bridge}" drop' if internal else ""
    script = f"""add table ip {table}
delete table ip {table}
table ip {table} {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {nat}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    {isolate}
    iifname "{bridge}" accept
    oifname "{bridge}" ct state established,related accept
  }}
  chain guard {{
    type filter hook prerouting priority raw; policy accept;
    iifname "{bridge}" ip daddr 127.0.0.0/8 drop
  }}
}}
"""
    _nft(script)


def remove(bridge: str) -> None:
    """Remove the table of ``bridge`` (idempotent)."""
    table = table_name(bridge)
    _nft(f"add table ip {table}\ndelete table ip {table}\n", check=False)


def present(bridge: str) -> bool:
    import shutil
    import subprocess

    nft = shutil.which("nft") or "/usr/sbin/nft"
    try:
        return subprocess.run([nft, "list", "table", "ip", table_name(bridge)], capture_output=True).returncode == 0
    except OSError:
        return False


def enable_forwarding() -> None:
    """net.ipv4.ip_forward = 1 (the host's namespace; podman and docker do the same)."""
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1\n")
    except OSError as exc:
        raise NetworkError(f"cannot enable IPv4 forwarding: {exc.strerror}", hint="capsa needs root") from None
