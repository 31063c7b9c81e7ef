"""A script with nothing secret in it: the connector may send it on the command line."""

from __future__ import annotations

from wizard.shell import Shell


class PublicScript(Shell):
    """Shell code that holds no secret and no user data (no answer, no file content, no
    password): the same text for every user of this version, such as the facts script.

    The connector may send it in the command line that opens the session's pipe
    (wizard.remote), where it costs no round trip of its own but shows in the server's process
    list while it runs. Any other script travels on the pipe's stdin only.
    """

    __slots__ = ()
