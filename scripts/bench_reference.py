"""The reference benchmark of issue 13: one change set written by every tool, on one test host
behind a relay adding 52 ms of round trip, side by side in one run.

The change set: N templated files to /etc/nginx/conf.d (10, and 100 in the large variant), a
validate (`nginx -t`), a reload of nginx and a verify (nginx active and enabled, its
configuration valid). Every tool renders the same templates with the same values; after each
run the files' bytes on the server are compared with the expected ones.

Tools: the floor (scripts/bench_floor.py: Paramiko, 1 connection, pipelined SFTP, 1 exec),
vps-wizard `apply --yes` (the step folder scripts/bench_steps/bench-ref, the reload a
handler), vps-wizard `plan` (against the floor's dry run: 1 exec reading the digests),
pyinfra and ansible-core (pipelining and ControlPersist), the last two from the `bench` extra
in their own virtualenv (scripts/bench installs it).

Scenarios: first apply (no file there), every file changes (a new generation), no-op (the same
again). The median of 5 runs (1 with --quick). Round trips are what the relay sees: a turn is
the client sending after it received something, plus one per TCP connection; channels are
what the tool reports (the floor by construction, vps-wizard's --stats).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from wizard.testhost.counting import CountingRelay
from wizard.testhost.machine import TestHost, boot, write_known_hosts

REPO = Path(__file__).resolve().parents[1]
STEP_FOLDER = REPO / "scripts" / "bench_steps" / "bench-ref"
DEST_DIR = "/etc/nginx/conf.d"
RTT_S = 0.052
BENCH_VENV = Path(os.environ.get("VPS_WIZARD_BENCH_VENV", "/var/cache/vps-wizard/bench-venv"))
# Another copy of the code to measure as vps-wizard (git archive of an earlier commit, say):
# before and after a change, in one run of the benchmark each.
WIZARD_TREE = os.environ.get("VPS_WIZARD_BENCH_TREE", "")
SCENARIOS = ("first apply", "every file changes", "no-op")
GENERATIONS = {"first apply": "g1", "every file changes": "g2", "no-op": "g2"}
PADDING = [
    "# This file is part of a benchmark, not of a real server's configuration: it defines",
    "# one map variable that nothing uses, so nginx validates it and reloads with it, and the",
    "# rest of the file is comments that give it the size of an ordinary configuration file.",
    "# A real step would put server blocks, upstreams or TLS settings here; what matters to",
    "# the benchmark is that every tool writes the same bytes to the same path, checks them",
    "# with nginx -t, reloads nginx once when any file changed and verifies it is running.",
]


def template_text(index: int, count: int) -> str:
    """The template of file `index`: a map, comments, and the generation in two places."""
    name = f"{index:03d}"
    return "\n".join(
        [
            f"# vps-wizard benchmark, reference change set: file {name} of {count}.",
            "# Generation {{ answers.generation }}.",
            f"map $host $vw_bench_{name} {{",
            f'    default "{{{{ answers.generation }}}}-{name}";',
            "}",
            *PADDING,
            "",
        ]
    )


def step_toml(step_id: str, count: int) -> str:
    """The vps-wizard step of the change set: the files notify nginx, the last one validates
    the whole tree with every staged file in place."""
    lines = [
        f"# Benchmark-only step (scripts/bench_reference.py): {count} files, a validate, a",
        "# reload (a handler) and a verify.",
        f'id = "{step_id}"',
        "order = 990",
        f'title = "BENCH: the reference change set ({count} files)"',
        'help = "Writes the benchmark\'s files to /etc/nginx/conf.d and reloads nginx."',
        "",
        "[handlers]",
        'nginx = "reload"',
        "",
        "[[questions]]",
        'name = "generation"',
        'type = "hostname"',
        'prompt = "A word the files carry"',
        "default = \"'g1'\"",
    ]
    for index in range(1, count + 1):
        lines += [
            "",
            "[[files]]",
            f'template = "vw-bench-{index:03d}.conf.j2"',
            f'dest = "{DEST_DIR}/vw-bench-{index:03d}.conf"',
            'notify = ["nginx"]',
        ]
        if index == count:
            lines += ['validate_in = "/etc/nginx"', "validate = 'nginx -t -q -c {copy}/nginx.conf'"]
    lines += ["", "[[checks]]", 'id = "web.service"', "params = { server = \"'nginx'\" }", ""]
    return "\n".join(lines)


def write_step_folder(folder: Path, count: int) -> Path:
    """The step folder of a change set of `count` files (the committed one is count 10)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.toml").write_text(step_toml(folder.name, count))
    for index in range(1, count + 1):
        (folder / f"vw-bench-{index:03d}.conf.j2").write_text(template_text(index, count))
    return folder


def expected_bytes(folder: Path, generation: str) -> dict[str, bytes]:
    """What every tool must have written, rendered as the floor renders it."""
    sys.path.insert(0, str(REPO / "scripts"))
    from bench_floor import render

    return render(folder, generation)


@dataclass
class Run:
    seconds: float
    round_trips: int
    channels: int | None


@dataclass
class Bench:
    host: TestHost
    relay: CountingRelay
    home: Path
    key: Path
    known_hosts: Path
    runs: dict[tuple[str, str, int], list[Run]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.relay.address is not None
        return self.relay.address[1]

    def reset(self, count: int) -> None:
        """No file of the change set on the server, no record of the wizard anywhere."""
        self.host.exec(
            "rm -f /etc/nginx/conf.d/vw-bench-*; rm -rf /var/lib/vps-wizard; systemctl reload nginx"
        )
        shutil.rmtree(self.home / "wizard-state", ignore_errors=True)
        (self.home / "wizard-state").mkdir()

    def timed(self, argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str, str]:
        self.relay.reset_counts()
        started = time.monotonic()
        result = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.home, env=env, check=False
        )
        seconds = time.monotonic() - started
        if result.returncode not in (0, 2):
            raise SystemExit(
                f"{' '.join(argv[:3])} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return seconds, result.stdout, result.stderr

    def check_bytes(self, tool: str, folder: Path, generation: str) -> None:
        """The files on the server are exactly what the templates render to."""
        want = expected_bytes(folder, generation)
        got = self.host.exec("sha256sum " + " ".join(want)).stdout
        import hashlib

        digests = dict(reversed(line.split()) for line in got.splitlines())
        wrong = [d for d, b in want.items() if digests.get(d) != hashlib.sha256(b).hexdigest()]
        if wrong:
            raise SystemExit(f"{tool} did not write the expected bytes: {', '.join(wrong[:3])}")

    def record(self, tool: str, scenario: str, count: int, run: Run) -> None:
        self.runs.setdefault((tool, scenario, count), []).append(run)

    # --- the tools ------------------------------------------------------------------------

    def floor(self, mode: str, folder: Path, generation: str) -> Run:
        argv = [sys.executable, str(REPO / "scripts" / "bench_floor.py"), mode, "127.0.0.1"]
        argv += [str(self.port), str(self.key), str(self.known_hosts), str(folder), generation]
        seconds, out, _ = self.timed(argv)
        return Run(seconds, self.relay.round_trips, json.loads(out)["channels"])

    def wizard_env(self) -> dict[str, str]:
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.home / "config")}
        if WIZARD_TREE:
            env["PYTHONPATH"] = WIZARD_TREE
        return env

    def wizard(self, command: str, folder: Path, generation: str) -> Run:
        answers = self.home / "answers.toml"
        answers.write_text(f'[{folder.name}]\ngeneration = "{generation}"\n')
        argv = [str(REPO / ".venv" / "bin" / "python"), "-m", "vps_wizard", command]
        argv.append(f"root@127.0.0.1:{self.port}")
        argv += ["--answers", str(answers), "--step", folder.name, "--json", "--stats"]
        argv += ["-i", str(self.key), "--known-hosts", str(self.known_hosts)]
        argv += ["--state", str(self.home / "wizard-state" / "state.db")]
        if command == "apply":
            argv.append("--yes")
        seconds, _, err = self.timed(argv, self.wizard_env())
        stats = json.loads(err.strip().splitlines()[-1])["stats"]
        channels = sum(int(p.get("channels", 0)) for p in stats.values()) or None
        return Run(seconds, self.relay.round_trips, channels)

    def pyinfra(self, folder: Path, generation: str) -> Run:
        deploy = self.home / "pyinfra_deploy.py"
        argv = [str(BENCH_VENV / "bin" / "pyinfra"), str(self.home / "pyinfra_inventory.py")]
        argv += [str(deploy), "-y", "--data", f"generation={generation}"]
        argv += ["--data", f"folder={folder}"]
        seconds, _, _ = self.timed(argv)
        return Run(seconds, self.relay.round_trips, None)

    def ansible(self, folder: Path, generation: str) -> Run:
        argv = [str(BENCH_VENV / "bin" / "ansible-playbook"), "-i", str(self.home / "hosts.ini")]
        argv += [str(self.home / "playbook.yml"), "-e"]
        argv += [json.dumps({"answers": {"generation": generation}, "folder": str(folder)})]
        env = {**os.environ, "ANSIBLE_CONFIG": str(self.home / "ansible.cfg"), "LC_ALL": "C.UTF-8"}
        seconds, _, _ = self.timed(argv, env)
        return Run(seconds, self.relay.round_trips, None)


def write_tool_files(bench: Bench) -> None:
    """pyinfra's inventory and deploy, Ansible's inventory, configuration and playbook."""
    home, port = bench.home, bench.port
    (home / "pyinfra_inventory.py").write_text(
        f"hosts = [('127.0.0.1', {{'ssh_port': {port}, 'ssh_user': 'root', "
        f"'ssh_key': {str(bench.key)!r}, 'ssh_known_hosts_file': {str(bench.known_hosts)!r}, "
        "'ssh_strict_host_key_checking': 'yes', 'ssh_allow_agent': False, "
        "'ssh_look_for_keys': False})]\n"
    )
    (home / "pyinfra_deploy.py").write_text(
        "from pathlib import Path\n"
        "from pyinfra import host\n"
        "from pyinfra.operations import files, server, systemd\n"
        "from pyinfra.operations.util import any_changed\n"
        "folder = Path(host.data.folder)\n"
        "answers = {'generation': host.data.generation}\n"
        "written = [\n"
        "    files.template(\n"
        "        name=f'write {t.stem}', src=str(t), dest=f'/etc/nginx/conf.d/{t.stem}',\n"
        "        mode='644', answers=answers,\n"
        "    )\n"
        "    for t in sorted(folder.glob('*.conf.j2'))\n"
        "]\n"
        "server.shell(name='validate', commands=['nginx -t -q'])\n"
        "systemd.service(name='reload', service='nginx', reloaded=True, "
        "_if=any_changed(*written))\n"
        "server.shell(name='verify', commands=['systemctl is-active --quiet nginx && "
        "systemctl is-enabled --quiet nginx'])\n"
    )
    (home / "hosts.ini").write_text(
        f"bench ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
        f"ansible_ssh_private_key_file={bench.key} ansible_python_interpreter=/usr/bin/python3\n"
    )
    (home / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = True\nretry_files_enabled = False\n"
        "[ssh_connection]\npipelining = True\n"
        f"control_path_dir = {home}/cp\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=60s "
        f"-o UserKnownHostsFile={bench.known_hosts} -o IdentitiesOnly=yes\n"
    )
    (home / "playbook.yml").write_text(
        "- hosts: bench\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: write the files\n"
        "      ansible.builtin.template:\n"
        "        src: '{{ item }}'\n"
        '        dest: "/etc/nginx/conf.d/'
        "{{ item | basename | regex_replace('\\\\.j2$', '') }}\"\n"
        "        mode: '0644'\n"
        "      loop: \"{{ query('fileglob', folder + '/*.conf.j2') | sort }}\"\n"
        "      notify: reload nginx\n"
        "    - name: validate\n"
        "      ansible.builtin.command: nginx -t -q\n"
        "      changed_when: false\n"
        "    - ansible.builtin.meta: flush_handlers\n"
        "    - name: verify\n"
        "      ansible.builtin.shell: systemctl is-active --quiet nginx && "
        "systemctl is-enabled --quiet nginx\n"
        "      changed_when: false\n"
        "  handlers:\n"
        "    - name: reload nginx\n"
        "      ansible.builtin.systemd:\n"
        "        name: nginx\n"
        "        state: reloaded\n"
    )


def cycle(bench: Bench, tool: str, folder: Path, count: int, scenarios: tuple[str, ...]) -> None:
    """One repetition of a tool: reset, then each scenario in turn (dry runs before applies)."""
    bench.reset(count)
    if "first apply" not in scenarios:
        # "every file changes" starts from the other generation in place.
        bench.floor("apply", folder, "g1")
    for scenario in scenarios:
        generation = GENERATIONS[scenario]
        if tool == "vps-wizard plan":
            bench.record(tool, scenario, count, bench.wizard("plan", folder, generation))
            bench.wizard("apply", folder, generation)
            continue
        if tool == "floor dry run":
            bench.record(tool, scenario, count, bench.floor("dry", folder, generation))
            bench.floor("apply", folder, generation)
            continue
        if tool == "floor":
            run = bench.floor("apply", folder, generation)
        elif tool == "vps-wizard apply --yes":
            run = bench.wizard("apply", folder, generation)
        elif tool == "pyinfra":
            run = bench.pyinfra(folder, generation)
        else:
            run = bench.ansible(folder, generation)
        bench.check_bytes(tool, folder, generation)
        bench.record(tool, scenario, count, run)


TOOLS = (
    "floor",
    "vps-wizard apply --yes",
    "floor dry run",
    "vps-wizard plan",
    "pyinfra",
    "ansible-core",
)


def table(bench: Bench, count: int, scenarios: tuple[str, ...], tools: list[str]) -> str:
    """Markdown: median seconds, the ratio to the floor (dry run to the floor's dry run),
    round trips the link saw and channels, per scenario."""
    head = "| tool | " + " | ".join(scenarios) + " |"
    lines = [head, "| --- |" + " --- |" * len(scenarios)]
    for tool in tools:
        cells = []
        for scenario in scenarios:
            runs = bench.runs.get((tool, scenario, count))
            if not runs:
                cells.append("-")
                continue
            seconds = statistics.median(r.seconds for r in runs)
            base_tool = "floor dry run" if tool in ("vps-wizard plan", "floor dry run") else "floor"
            base = bench.runs.get((base_tool, scenario, count))
            ratio = ""
            if base and tool != base_tool:
                ratio = f" ({seconds / statistics.median(r.seconds for r in base):.2f}x)"
            trips = int(statistics.median(r.round_trips for r in runs))
            channels = runs[0].channels
            extra = f", {trips} rt" + (f", {channels} ch" if channels else "")
            cells.append(f"{seconds:.2f} s{ratio}{extra}")
        lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compile_tree(tree: Path) -> None:
    """Compile the wizard's source to measure: an installed copy is compiled (pip does it), a
    `git archive` tree is not, and with PYTHONDONTWRITEBYTECODE set (as in the agents'
    environment) every command would compile it again, about 0.1 s the floor never pays."""
    python = REPO / ".venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "compileall", "-q", "wizard", "screens", "vps_wizard.py"],
        cwd=tree,
        check=True,
    )


def ensure_same_folder(scratch: Path) -> None:
    """The committed step folder is what the generator makes (nobody edits one of them alone)."""
    fresh = write_step_folder(scratch / "bench-ref", 10)
    committed = {p.name: p.read_bytes() for p in STEP_FOLDER.iterdir()}
    generated = {p.name: p.read_bytes() for p in fresh.iterdir()}
    if committed != generated:
        raise SystemExit(
            f"{STEP_FOLDER} differs from what bench_reference.write_step_folder makes: "
            "run scripts/bench_reference.py --write-step-folder"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run per cell instead of 5")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--no-large", action="store_true", help="skip the 100-file variant")
    parser.add_argument("--write-step-folder", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_step_folder:
        shutil.rmtree(STEP_FOLDER, ignore_errors=True)
        write_step_folder(STEP_FOLDER, 10)
        return
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    repeats = 1 if args.quick else 5
    home = Path(tempfile.mkdtemp(prefix="vw-bench-ref-"))
    ensure_same_folder(home / "scratch")
    steps_dir = home / "config" / "vps-wizard" / "steps"
    steps_dir.mkdir(parents=True)
    (steps_dir / "bench-ref").symlink_to(STEP_FOLDER)
    large = write_step_folder(steps_dir / "bench-ref-100", 100)
    compile_tree(Path(WIZARD_TREE) if WIZARD_TREE else REPO)
    host = boot("bench", 47)
    relay = CountingRelay(host.address, 22, delay_s=RTT_S)
    try:
        # nginx (the service the change set reloads) and python3 (Ansible's modules run on it)
        # come from the image's apt cache, before anything is timed.
        host.exec("DEBIAN_FRONTEND=noninteractive apt-get install -q -y nginx python3", timeout=600)
        address, port = relay.start()
        key = host.root_key_path
        known_hosts = write_known_hosts(host, home / "known_hosts", [(address, port)])
        bench = Bench(host, relay, home, key, known_hosts)
        write_tool_files(bench)
        started = time.monotonic()
        for _ in range(repeats):
            for tool in tools:
                cycle(bench, tool, STEP_FOLDER, 10, SCENARIOS)
        if not args.no_large:
            for tool in tools:
                slow = tool in ("pyinfra", "ansible-core")
                for _ in range(1 if slow else min(repeats, 3)):
                    cycle(bench, tool, large, 100, ("every file changes",))
        print(f"# reference change set, {RTT_S * 1000:.0f} ms round trip, median of {repeats}")
        print(f"# every tool wrote the same bytes; {time.monotonic() - started:.0f} s in all\n")
        print(table(bench, 10, SCENARIOS, tools))
        if not args.no_large:
            print("\n# 100 files, every file changes (pyinfra and ansible-core: 1 run)\n")
            print(table(bench, 100, ("every file changes",), tools))
            print()
            for tool in tools:
                small = bench.runs.get((tool, "every file changes", 10))
                big = bench.runs.get((tool, "every file changes", 100))
                if small and big:
                    extra = statistics.median(r.seconds for r in big) - statistics.median(
                        r.seconds for r in small
                    )
                    print(f"{tool}: {extra / 90 * 1000:.1f} ms per extra file")
    finally:
        relay.stop()
        host.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
