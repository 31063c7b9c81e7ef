"""The benchmark's floor: the reference change set written by hand with Paramiko, as fast as one
SSH connection allows: 1 connection, every file uploaded by pipelined SFTP (all the opens in one
round trip, all the writes and closes in the next), then 1 exec that puts the changed files in
place, validates, reloads when something changed and verifies.

    bench_floor.py apply|dry HOST PORT KEY KNOWN_HOSTS FOLDER GENERATION

`dry` is the floor of a dry run: 1 exec that prints the files' digests, compared here. It prints
one JSON line: what changed and the round trips it made by construction.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path

import jinja2
import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_OPEN, CMD_WRITE, int64
from paramiko.sftp_attr import SFTPAttributes

DEST_DIR = "/etc/nginx/conf.d"
STAGED = ".vw-floor"
# SFTP's open flags: write, create, truncate.
OPEN_FLAGS = 0x02 | 0x08 | 0x10
CHUNK = 32768


def render(folder: Path, generation: str) -> dict[str, bytes]:
    """Each template of the step folder rendered, by destination."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return {
        f"{DEST_DIR}/{name.removesuffix('.j2')}": env.get_template(name)
        .render(answers={"generation": generation})
        .encode()
        for name in sorted(p.name for p in folder.glob("*.conf.j2"))
    }


def upload(sftp: paramiko.SFTPClient, files: dict[str, bytes]) -> None:
    """Every file to its staged name in two round trips: the opens, then writes and closes."""
    attrs = SFTPAttributes()
    attrs.st_mode = 0o644
    opens = [
        sftp._async_request(type(None), CMD_OPEN, dest + STAGED, OPEN_FLAGS, attrs)
        for dest in files
    ]
    handles = []
    for number in opens:
        kind, message = sftp._read_response(number)
        assert kind == CMD_HANDLE, kind
        handles.append(message.get_binary())
    pending = []
    for handle, data in zip(handles, files.values(), strict=True):
        for offset in range(0, max(len(data), 1), CHUNK):
            chunk = data[offset : offset + CHUNK]
            pending.append(sftp._async_request(type(None), CMD_WRITE, handle, int64(offset), chunk))
        pending.append(sftp._async_request(type(None), CMD_CLOSE, handle))
    for number in pending:
        sftp._read_response(number)


def apply_script(dests: list[str]) -> str:
    """Put each changed file in place, validate, reload when something changed, verify."""
    # Paths and the suffix are data: quoted, as the engine quotes (the floor must not lean on it).
    words = shlex.join(dests)
    staged = '"$f"' + shlex.quote(STAGED)
    return (
        "set -e; changed=0\n"
        f"for f in {words}; do\n"
        f'  if cmp -s {staged} "$f"; then rm -f {staged}; '
        f'else mv -f {staged} "$f"; changed=$((changed + 1)); fi\n'
        "done\n"
        "nginx -t -q\n"
        '[ "$changed" = 0 ] || systemctl reload nginx\n'
        "systemctl is-active --quiet nginx && systemctl is-enabled --quiet nginx\n"
        'echo "$changed"\n'
    )


def main() -> None:
    mode, host, port, key, known_hosts, folder, generation = sys.argv[1:8]
    files = render(Path(folder), generation)
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host, int(port), "root", key_filename=key, allow_agent=False, look_for_keys=False
    )
    if mode == "dry":
        _, stdout, _ = client.exec_command("sha256sum " + " ".join(files) + " 2>/dev/null; true")
        found = dict(reversed(line.split()) for line in stdout.read().decode().splitlines())
        changed = sum(found.get(d) != hashlib.sha256(b).hexdigest() for d, b in files.items())
        channels = 1
    else:
        sftp = client.open_sftp()
        upload(sftp, files)
        _, stdout, stderr = client.exec_command(apply_script(list(files)))
        out = stdout.read().decode()
        if stdout.channel.recv_exit_status() != 0:
            raise SystemExit(f"floor apply failed: {out} {stderr.read().decode()}")
        changed = int(out.strip())
        channels = 2
    client.close()
    print(json.dumps({"changed": changed, "channels": channels}))


if __name__ == "__main__":
    main()
