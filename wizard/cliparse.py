"""Reading the command line before anything connects: where the subcommand stands, whether a
bare word is a host or a mistyped command, answers at prompts, and the `-i` key file."""

from __future__ import annotations

import argparse
import difflib
import getpass
from collections.abc import Sequence
from pathlib import Path

from wizard.endpoint import SSH_CONFIG
from wizard.errors import WizardError

COMMANDS = ("plan", "apply", "verify", "status", "steps", "tui")


def subparser_defaults_suppressed(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The common options as a subcommand's parent whose defaults never overwrite a value
    given before the subcommand (`vps-wizard --json steps`): argparse lets a subparser's
    defaults win over what the main parser already read."""
    for action in common._actions:
        action.default = argparse.SUPPRESS
    return common


def first_word(raw: Sequence[str], parser: argparse.ArgumentParser) -> int | None:
    """The index of the first word that is no option nor an option's value, or None."""
    takes_value = {
        option
        for action in parser._actions
        if action.nargs != 0
        for option in action.option_strings
    }
    index = 0
    while index < len(raw):
        word = raw[index]
        if word == "--":
            return index + 1 if index + 1 < len(raw) else None
        if not word.startswith("-") or word == "-":
            return index
        index += 2 if word in takes_value else 1
    return None


def ssh_config_hosts(path: Path = SSH_CONFIG) -> set[str]:
    """The names given after `Host` in the user's ssh config (patterns left out)."""
    try:
        text = path.expanduser().read_text(errors="replace")
    except OSError:
        return set()
    names: set[str] = set()
    for line in text.splitlines():
        words = line.replace("=", " ").split()
        if len(words) > 1 and words[0].lower() == "host":
            names.update(w for w in words[1:] if not any(c in w for c in "*?!"))
    return names


def could_be_host(word: str, config: Path = SSH_CONFIG) -> bool:
    """Whether a bare word names a server a user could mean. Decided by form and the ssh
    config only, never by a DNS lookup (a lookup is slow offline and leaks the typo)."""
    if any(c in word for c in ".@:[") or word == "localhost":
        return True
    return word in ssh_config_hosts(config)


def unknown_command(word: str) -> WizardError:
    """A bare word that is neither a command nor a host the user could mean."""
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.5)
    guess = f"did you mean '{close[0]}'?" if close else f"the commands are {', '.join(COMMANDS)}."
    return WizardError(
        f"unknown command '{word}', {guess}",
        f"to open a server of that name, write: vps-wizard tui {word}",
    )


def ask(prompt: str, secret: bool = False) -> str:
    """One answer from the user; end of input is a sentence (exit 1), never a traceback."""
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        what = prompt.strip().rstrip(":?").rstrip(" [y/N]").strip()
        raise WizardError(
            f"no answer (end of input) to '{what}'; nothing was done",
            "run it on a terminal, or give the answer by option (--yes, --accept-host-key, -i)",
        ) from None


def check_identity(path_text: str | None) -> None:
    """Refuse a `-i` that cannot work before connecting: a missing file, a directory, or a
    public key (the server would refuse it with a misleading 'check the address')."""
    if path_text is None:
        return
    path = Path(path_text).expanduser()
    if not path.exists():
        raise WizardError(
            f"the key file {path_text} given to -i does not exist",
            "give the private key you log in with (ls ~/.ssh), or create one: ssh-keygen -t "
            "ed25519, then ssh-copy-id -i it to the server",
        )
    if not path.is_file():
        raise WizardError(f"{path_text} given to -i is not a file", "give the private key file")
    try:
        start = path.read_bytes()[:64]
    except OSError as error:
        raise WizardError(
            f"the key file {path_text} cannot be read: {error.strerror}",
            "check its permissions (chmod 600)",
        ) from None
    if path.suffix == ".pub" or start.startswith((b"ssh-", b"ecdsa-", b"sk-")):
        private = path.with_suffix("") if path.suffix == ".pub" else "the private key"
        raise WizardError(
            f"{path_text} is a public key; -i needs the private key",
            f"give -i {private} (the public half goes on the server)",
        )
