"""The running user's own SSH public key: the default key for the admin user."""

from __future__ import annotations

from pathlib import Path


def local_public_key(identity: str | None = None) -> str:
    """The public key of the given identity, else ~/.ssh/id_ed25519.pub, else the agent's first."""
    import paramiko

    candidates = []
    if identity:
        candidates.append(Path(identity + ".pub"))
    ssh_dir = Path("~/.ssh").expanduser()
    candidates += [ssh_dir / name for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text().strip()
    if identity and Path(identity).is_file():
        try:
            key = paramiko.PKey.from_path(identity)
            return f"{key.get_name()} {key.get_base64()}"
        except (paramiko.SSHException, OSError, ValueError):
            pass
    try:
        keys = paramiko.Agent().get_keys()
    except paramiko.SSHException:
        keys = ()
    if keys:
        return f"{keys[0].get_name()} {keys[0].get_base64()}"
    return ""
