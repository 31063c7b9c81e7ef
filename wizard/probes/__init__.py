"""Probes: how the checks look at a server from the outside (TCP, HTTP, TLS, SMTP, DNS) and how
they find its address in ~/.ssh/config. A probe reports what it saw as a value and never
judges it: the verdicts live in the check areas (wizard/checks/), which use these modules
instead of importing each other."""
