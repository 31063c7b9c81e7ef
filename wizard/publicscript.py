"""A script with nothing secret in it: the connector may send it on the command line."""

from __future__ import annotations

from wizard.shell import Shell


class PublicScript(Shell):
    """Shell code that holds no secret and nothing a user typed (no answer, no file content,
    no password): the wizard's own text, such as the facts script (the catalog's package
    names in it are public too).

    The connector may send it in the command line that opens the session's pipe
    (wizard.remote), where it costs no round trip of its own but shows in the server's process
    list for as long as the pipe is open (its shell keeps that command line). Any other script
    travels on the pipe's stdin only.
    """

    __slots__ = ()
