"""Named validators: the checks a new configuration file passes before it replaces the old one,
defined once here and named by steps (`validate = { with = "apache" }`) instead of pasted.

Each validator is a shell script in wizard/validate/NAME.sh.j2 whose opening comment says what
it proves. It runs on the server inside the apply, where `"$new"` is the staged file, `$run` the
run's id (a staged file is `DEST.vw-new.$run`) and, for a validator with `validate_in`,
`"$copy"` a throw-away copy of that configuration directory with every staged file in place.
A validator sees only its declared parameters: Jinja expressions of the step, rendered in the
step's context and quoted as one shell word per value, as every value of a command is.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from wizard.errors import WizardError

SCRIPTS = "validate"


@dataclass(frozen=True)
class Validator:
    """One named validator: its script, the directory it checks a copy of, its parameters."""

    name: str
    validate_in: str | None = None
    params: tuple[str, ...] = ()

    @property
    def script_name(self) -> str:
        """The file of its script, under wizard/validate/."""
        return f"{self.name}.sh.j2"

    def source(self) -> str:
        """The script's text (a Jinja template of shell), opening comment included."""
        return resources.files("wizard").joinpath(SCRIPTS, self.script_name).read_text()

    def body(self) -> str:
        """The script without its opening comment: the shell the apply runs."""
        lines = self.source().splitlines()
        while lines and (not lines[0].strip() or lines[0].lstrip().startswith("#")):
            lines.pop(0)
        return "\n".join(lines).strip()

    def summary(self) -> str:
        """What it proves: its script's opening comment, as one paragraph."""
        words = []
        for line in self.source().splitlines():
            if not line.startswith("#"):
                break
            words.append(line.lstrip("#").strip())
        return " ".join(words).strip()


VALIDATORS: dict[str, Validator] = {
    validator.name: validator
    for validator in (
        Validator("apache"),
        Validator("nginx", validate_in="/etc/nginx"),
        Validator("postfix"),
        Validator("dovecot"),
        Validator("fail2ban", validate_in="/etc/fail2ban"),
        Validator("opendkim"),
        # users: the logins to check; addresses: where they come from; expect: the lines of
        # `sshd -T` that must be there for each (keyword and value, any case).
        Validator("sshd", validate_in="/etc/ssh", params=("users", "addresses", "expect")),
        Validator("named", validate_in="/etc/bind"),
        Validator("zone"),
        Validator("nftables"),
        Validator("sudoers"),
        Validator("apt"),
        Validator("sh"),
    )
}

NAMES: tuple[str, ...] = tuple(VALIDATORS)
"""The names a step's `validate = { with = NAME }` may give (the step schema checks it)."""


def validator(name: str) -> Validator:
    """The validator called `name`, or a WizardError listing the known ones."""
    found = VALIDATORS.get(name)
    if found is None:
        raise WizardError(
            f"there is no validator '{name}'",
            f"the step definition must name one of: {', '.join(NAMES)}",
        )
    return found
