"""What each verification check is called, where it lives and which parameters it takes: data.

The catalog checks a step's `[[checks]]` against this table when it loads (no check module is
imported for that), `load_checks` imports only the area modules a run needs, and
docs/steps.md is generated from it. A unit test keeps it equal to the checks the area modules
register, and each check function reading only the parameters declared here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class ParamType(enum.Enum):
    """The type a parameter's Jinja expression must render to."""

    TEXT = "text"
    INTEGER = "integer"
    BOOL = "bool"
    TEXT_LIST = "list of text"


TEXT, INTEGER, BOOL, TEXT_LIST = ParamType


@dataclass(frozen=True)
class Param:
    """One parameter of a check: a Jinja expression in step.toml, rendered at verify."""

    name: str
    type: ParamType
    description: str
    required: bool = True


@dataclass(frozen=True)
class CheckDecl:
    """A check: its id, the module under wizard/checks that registers it, what it proves."""

    id: str
    area: str
    summary: str
    params: tuple[Param, ...] = ()

    def param(self, name: str) -> Param | None:
        """The parameter called `name`, None when the check has none of that name."""
        return next((param for param in self.params if param.name == name), None)


def _opt(name: str, type_: ParamType, description: str) -> Param:
    return Param(name, type_, description, required=False)


# Parameters several checks share, worded once.
_HOST = Param("host", TEXT, "the name asked for (SNI, Host header, SMTP greeting)")
_NAMES = Param("names", TEXT_LIST, "the site's names, each checked")
_DOMAIN = Param("domain", TEXT, "the domain (zone, site or mail domain)")
_SSH_PORT = _opt("port", INTEGER, "the port sshd listens on (default: the session's)")
_RESOLVER = _opt("resolver", TEXT, "a resolver to ask instead of the system's")
_LINEAGE = Param("lineage", TEXT, "the certificate's folder on the server")

_DECLS = (
    # command: a step's own proof, without a Python check
    CheckDecl(
        "command",
        "command",
        "A shell command run on the server as root gives the expected exit code and output.",
        (
            Param(
                "run",
                TEXT,
                "the command: shell written by the step's author, rendered like a "
                "[[commands]] run (every value one quoted word), not an expression",
            ),
            _opt("exit", INTEGER, "the expected exit code (default 0)"),
            _opt("output", TEXT, "a regular expression the output must hold on some line"),
            _opt("summary", TEXT, "what passing proves, shown with the result"),
        ),
    ),
    # dane
    CheckDecl(
        "dane.https",
        "dane",
        "The key served on 443 for each name matches its TLSA records.",
        (_NAMES, _LINEAGE),
    ),
    CheckDecl(
        "dane.smtp",
        "dane",
        "The key Postfix serves after STARTTLS on 25 matches the mail host's TLSA records.",
        (
            _opt("host", TEXT, "the mail host name (empty: no mail step, nothing to check)"),
            _opt("lineage", TEXT, "the mail host certificate's folder on the server"),
        ),
    ),
    CheckDecl(
        "dane.renewal",
        "dane",
        "A renewed key reaches the TLSA records before it is served.",
        (_LINEAGE, _opt("source", TEXT, "the tls step's certificate source (acme, ...)")),
    ),
    # database
    CheckDecl(
        "database.secure",
        "database",
        "MariaDB as mysql_secure_installation leaves it, InnoDB only, on loopback only.",
    ),
    CheckDecl(
        "database.not_exposed",
        "database",
        "From outside, a TCP connection to the database port fails, IPv4 and IPv6.",
        (_opt("port", INTEGER, "the database port (default 3306)"),),
    ),
    # dns
    CheckDecl("dns.zone_valid", "dns", "named-checkzone loads the zone on the server.", (_DOMAIN,)),
    CheckDecl(
        "dns.authoritative",
        "dns",
        "Every record set the step publishes, asked straight of the server.",
        (
            _DOMAIN,
            _opt("ipv4", TEXT, "the server's IPv4 address (A records)"),
            _opt("ipv6", TEXT, "the server's IPv6 address (AAAA records), empty for none"),
            _opt("ns", TEXT_LIST, "the zone's name servers"),
            _opt("mail_host", TEXT, "the MX host, empty for none"),
            _opt("caa_issuer", TEXT, "the CA allowed by the CAA record, empty for none"),
        ),
    ),
    CheckDecl(
        "dns.serial",
        "dns",
        "The zone file's serial is the one served, on the server and from outside.",
        (_DOMAIN,),
    ),
    CheckDecl(
        "dns.registrar",
        "dns",
        "The parent zone delegates to the zone's name servers, with matching glue.",
        (
            _DOMAIN,
            _opt("ns", TEXT_LIST, "the zone's name servers"),
            _opt("ipv4", TEXT, "the server's IPv4 address (glue)"),
            Param("ipv6", TEXT, "the server's IPv6 address (glue), empty for none"),
            _RESOLVER,
        ),
    ),
    # dnssec
    CheckDecl(
        "dnssec.signed",
        "dnssec",
        "The zone's answers validate (asked with DO set, validated here).",
        (_DOMAIN, _opt("mail_host", TEXT, "the MX host, empty for none")),
    ),
    CheckDecl(
        "dnssec.ds",
        "dnssec",
        "The parent's DS matches the KSK the server serves.",
        (_DOMAIN, _RESOLVER),
    ),
    CheckDecl("dnssec.resign", "dnssec", "BIND keeps re-signing the zone.", (_DOMAIN,)),
    # fail2ban
    CheckDecl(
        "fail2ban.jails",
        "fail2ban",
        "fail2ban runs the expected jails.",
        (_opt("jails", TEXT_LIST, "the jails that must run"),),
    ),
    CheckDecl(
        "fail2ban.ignoreip",
        "fail2ban",
        "fail2ban never bans the address the user connects from.",
        (_opt("address", TEXT, "the user's address (facts.client_address)"),),
    ),
    CheckDecl(
        "fail2ban.test_ban",
        "fail2ban",
        "A ban of a test address shows up in nftables, and its unban removes it.",
        (
            Param("jail", TEXT, "the jail to ban in"),
            Param("address", TEXT, "the address to ban (a documentation address)"),
        ),
    ),
    CheckDecl(
        "fail2ban.filter_matches",
        "fail2ban",
        "The filter matches the flood lines it is written for, and only those.",
        (Param("filter", TEXT, "the filter's name"),),
    ),
    # firewall
    CheckDecl(
        "firewall.active",
        "firewall",
        "The wizard's nftables table is loaded with a default-drop input chain, and persists.",
    ),
    CheckDecl(
        "firewall.ports",
        "firewall",
        "From outside, the opened ports answer and others are filtered, IPv4 and IPv6.",
        (_opt("open", TEXT_LIST, "the ports that must be open, like 22/tcp"),),
    ),
    # hsts
    CheckDecl(
        "hsts.header",
        "hsts",
        "HTTPS pages and HTTP redirects of each name send the expected header.",
        (
            _NAMES,
            _opt("max_age", INTEGER, "the expected max-age in seconds"),
            _opt("preload", BOOL, "whether the header asks for preload"),
        ),
    ),
    CheckDecl(
        "hsts.preload",
        "hsts",
        "Every rule of the preload list, from outside (ok without judging when preload is off).",
        (
            _DOMAIN,
            _opt("ca_file", TEXT, "a private CA's file on the server, empty for a public CA"),
            _opt("preload", BOOL, "whether preload was chosen"),
        ),
    ),
    # backups
    CheckDecl(
        "backups.latest",
        "backups",
        "The latest backup is recent and holds every path asked (and the database dumps).",
        (
            Param("paths", TEXT_LIST, "the paths every backup must hold"),
            _opt("max_age_hours", INTEGER, "the age in hours above which a backup is too old"),
            _opt("user", TEXT, "the user the backups log in as on the backup host"),
        ),
    ),
    # ipv6
    CheckDecl(
        "ipv6.services",
        "ipv6",
        "From outside, each TCP port answers on the IPv6 address as on IPv4, and no other.",
        (
            Param("address", TEXT, "the server's IPv6 address"),
            _opt("open", TEXT_LIST, "the ports the firewall opens, like 22/tcp"),
        ),
    ),
    # kernel
    CheckDecl(
        "kernel.sysctl",
        "kernel",
        "Each key of a sysctl drop-in holds its value now and at boot (or the host holds it).",
        (Param("file", TEXT, "the drop-in's path in /etc/sysctl.d"),),
    ),
    # maintenance
    CheckDecl(
        "maintenance.deleted_libraries",
        "maintenance",
        "No running service maps a library an upgrade has deleted (/proc/*/maps).",
    ),
    CheckDecl(
        "maintenance.usage",
        "maintenance",
        "Disk and inode use of every real filesystem at most the thresholds (df).",
        (
            Param("disk_max", INTEGER, "the highest disk use allowed, in percent"),
            Param("inodes_max", INTEGER, "the highest inode use allowed, in percent"),
        ),
    ),
    CheckDecl(
        "maintenance.web_root",
        "maintenance",
        "Every directory of the web root 2750, every file 0640, the site owner's and www-data's.",
        (
            Param("root", TEXT, "the web root's path, empty for none (nothing to check)"),
            Param("owner", TEXT, "the user owning the site's files"),
        ),
    ),
    # mail
    CheckDecl(
        "mail.starttls",
        "mail",
        "Port 25 offers STARTTLS with TLS 1.2 and 1.3 only.",
        (_HOST,),
    ),
    CheckDecl(
        "mail.auth_after_tls",
        "mail",
        "Ports 25 and 587 offer AUTH only after STARTTLS.",
        (_HOST,),
    ),
    CheckDecl(
        "mail.submission_auth",
        "mail",
        "Port 587 takes no mail without AUTH.",
        (_HOST, _DOMAIN),
    ),
    CheckDecl(
        "mail.imaps",
        "mail",
        "Port 993 speaks IMAP over TLS, 143 is closed.",
        (_HOST,),
    ),
    CheckDecl(
        "mail.tls_profile",
        "mail",
        "The TLS versions, suites and groups accepted on 25, 587 and 993.",
        (_HOST,),
    ),
    CheckDecl("mail.banner", "mail", "The greeting of ports 25 and 587 names the host.", (_HOST,)),
    CheckDecl(
        "mail.no_open_relay",
        "mail",
        "Port 25 refuses to relay to a foreign address.",
        # `domain` is passed by the mail step and not read by the check today.
        (_HOST, _opt("domain", TEXT, "the mail domain")),
    ),
    CheckDecl(
        "mail.delivery",
        "mail",
        "A message sent over 25 reaches the mailbox on the server.",
        (_HOST, _DOMAIN, Param("mailbox", TEXT, "the local part that receives it")),
    ),
    CheckDecl(
        "mail.outbound_tls",
        "mail",
        "Postfix's outbound TLS settings and the CA file they name.",
    ),
    # mail-auth
    CheckDecl(
        "mail-auth.spf",
        "mail_auth",
        "The domain's SPF record, evaluated for the server's own addresses, passes.",
        (
            _DOMAIN,
            _opt("ipv4", TEXT, "the server's IPv4 address"),
            _opt("ipv6", TEXT, "the server's IPv6 address, empty for none"),
            _RESOLVER,
        ),
    ),
    CheckDecl("mail-auth.dmarc", "mail_auth", "The domain publishes a DMARC record.", (_DOMAIN,)),
    CheckDecl(
        "mail-auth.dkim_record",
        "mail_auth",
        "The published DKIM record holds the server's public key.",
        (_DOMAIN, Param("selector", TEXT, "the DKIM selector")),
    ),
    CheckDecl(
        "mail-auth.dkim_signature",
        "mail_auth",
        "A message sent by the server carries a DKIM signature that verifies.",
        (
            _DOMAIN,
            Param("selector", TEXT, "the DKIM selector"),
            Param("mailbox", TEXT, "the local part the test message goes to"),
        ),
    ),
    CheckDecl("mail-auth.fail2ban", "mail_auth", "The Postfix authentication jail works."),
    # ssh
    CheckDecl(
        "ssh.login",
        "ssh",
        "A brand-new session as the user opens with the key, and sudo works in it.",
        (Param("user", TEXT, "the user who logs in"), _SSH_PORT),
    ),
    CheckDecl(
        "ssh.effective_config",
        "ssh",
        "sshd's effective settings (`sshd -T`) are the hardened ones.",
        (
            Param("port", INTEGER, "the port sshd must listen on"),
            Param("allow_x11", BOOL, "whether X11 forwarding is allowed"),
            Param("allow_tcp_forwarding", BOOL, "whether TCP forwarding is allowed"),
        ),
    ),
    CheckDecl(
        "ssh.root_refused",
        "ssh",
        "From outside, root cannot log in with the user's keys.",
        (_SSH_PORT,),
    ),
    CheckDecl(
        "ssh.password_refused",
        "ssh",
        "From outside, sshd offers no password or keyboard-interactive login.",
        (Param("user", TEXT, "the user to try"), _SSH_PORT),
    ),
    CheckDecl(
        "ssh.algorithms",
        "ssh",
        "From outside, the algorithms sshd offers are the ones the step chose.",
        (
            _SSH_PORT,
            _opt("kex", TEXT_LIST, "the expected key exchange algorithms"),
            _opt("cipher", TEXT_LIST, "the expected ciphers"),
            _opt("mac", TEXT_LIST, "the expected MACs"),
        ),
    ),
    # system
    CheckDecl(
        "system.hostname",
        "system",
        "The server answers to its fully qualified name.",
        (Param("fqdn", TEXT, "the expected name"),),
    ),
    CheckDecl(
        "system.timezone",
        "system",
        "The server runs in the chosen time zone.",
        (Param("timezone", TEXT, "the expected zone, like Europe/Paris"),),
    ),
    CheckDecl(
        "system.unattended_upgrades", "system", "Security upgrades are installed automatically."
    ),
    CheckDecl("system.upgraded", "system", "Every package is current and no reboot is waiting."),
    CheckDecl(
        "system.security_source",
        "system",
        "unattended-upgrades has a security source to install from.",
    ),
    CheckDecl(
        "system.core_dumps", "system", "No process writes its memory to disk when it crashes."
    ),
    CheckDecl("system.umask", "system", "New files are not readable by other users."),
    CheckDecl(
        "system.unused_modules",
        "system",
        "Unused network protocols and file systems cannot be loaded.",
    ),
    CheckDecl("system.login_banner", "system", "The login banners warn and give nothing away."),
    CheckDecl("system.sudo_log", "system", "The use of sudo is logged."),
    CheckDecl("system.config_modes", "system", "cron and sshd configuration is private to root."),
    # tls
    CheckDecl(
        "tls.certificate",
        "tls",
        "Each name's served certificate: chain, names, expiry; and the key files match.",
        (
            _NAMES,
            Param("cert", TEXT, "the certificate chain's path on the server"),
            Param("key", TEXT, "the private key's path on the server"),
            _opt("source", TEXT, "where the certificate comes from (acme, self-signed, ...)"),
            _opt("ca_file", TEXT, "a private CA's file on the server, empty for a public CA"),
        ),
    ),
    CheckDecl("tls.protocols", "tls", "443 accepts TLS 1.2 and 1.3 only.", (_HOST,)),
    CheckDecl("tls.ciphers", "tls", "443 refuses every non-forward-secret suite.", (_HOST,)),
    CheckDecl("tls.profile", "tls", "The versions, suites and groups 443 accepts.", (_HOST,)),
    CheckDecl("tls.alpn_h2", "tls", "443 offers HTTP/2 with ALPN.", (_HOST,)),
    CheckDecl(
        "tls.redirect", "tls", "Each name over HTTP redirects to itself over HTTPS.", (_NAMES,)
    ),
    CheckDecl(
        "tls.renewal",
        "tls",
        "On the server: the renewal timer, the hook, `certbot renew --dry-run`.",
        (
            _DOMAIN,
            Param("server", TEXT, "the ACME directory URL"),
            _opt("source", TEXT, "where the certificate comes from (only acme renews)"),
            _opt("ca_bundle", TEXT, "a CA bundle to trust the ACME server with"),
        ),
    ),
    CheckDecl(
        "tls.default_server",
        "tls",
        "From outside, 443 without SNI or with an unknown name serves no site.",
        (_NAMES,),
    ),
    CheckDecl(
        "tls.compression",
        "tls",
        "From outside, the canonical HTTPS page is not compressed (unless allowed).",
        (_HOST, _opt("allowed", BOOL, "whether compression over HTTPS was chosen")),
    ),
    # vhost
    CheckDecl("vhost.serves", "vhost", "The canonical name answers 200 from outside.", (_HOST,)),
    CheckDecl(
        "vhost.canonical",
        "vhost",
        "The other name answers 301 to the canonical one, from outside.",
        (
            Param("canonical", TEXT, "the canonical name"),
            Param("other", TEXT, "the name that redirects"),
        ),
    ),
    CheckDecl(
        "vhost.no_403", "vhost", "The bare domain (through its redirect) gives no 403.", (_DOMAIN,)
    ),
    CheckDecl(
        "vhost.headers",
        "vhost",
        "From outside, the canonical name sends the security headers.",
        (_HOST, _opt("csp", TEXT, "the expected Content-Security-Policy, empty for none")),
    ),
    CheckDecl(
        "vhost.permissions",
        "vhost",
        "The web root's owner, group and modes are the ones the step set.",
        (
            Param("root", TEXT, "the web root's path"),
            Param("owner", TEXT, "the user owning the site's files"),
        ),
    ),
    # waf
    CheckDecl(
        "waf.blocks",
        "waf",
        "From outside, an SQL injection and a path traversal get 403 (detection only: a warning).",
        (
            _HOST,
            _opt("mode", TEXT, "blocking or detection (the step's answer)"),
            _opt("exclusions", TEXT_LIST, "the ids of the rules the step removes"),
        ),
    ),
    CheckDecl(
        "waf.passes",
        "waf",
        "From outside, an ordinary page and a form post get 200 (no false positive).",
        (_HOST, Param("root", TEXT, "the site's web root, where the one-time form page goes")),
    ),
    CheckDecl(
        "waf.audit_log",
        "waf",
        "A path traversal sent from outside is recorded in the audit log on the server.",
        (_HOST, _opt("mode", TEXT, "blocking or detection (the step's answer)")),
    ),
    # web
    CheckDecl(
        "web.service",
        "web",
        "The web server is running and enabled, and its configuration test passes.",
        (Param("server", TEXT, "nginx or apache"),),
    ),
    CheckDecl(
        "web.php",
        "web",
        "A one-time probe page, fetched over HTTP from outside, runs through PHP-FPM.",
        (
            _HOST,
            Param("root", TEXT, "the web root the probe page goes in"),
            _opt("port", INTEGER, "the HTTP port (default 80)"),
            _opt("fpm", TEXT, "the PHP-FPM service's name"),
            _opt("memory_limit", TEXT, "the expected memory_limit, like 256M"),
            _opt("upload_max_filesize", TEXT, "the expected upload_max_filesize"),
            _opt("post_max_size", TEXT, "the expected post_max_size"),
        ),
    ),
    CheckDecl(
        "web.default_server",
        "web",
        "From outside, port 80 with an unknown name or the bare address serves no site.",
        (_opt("server", TEXT, "nginx or apache (default nginx)"),),
    ),
    CheckDecl(
        "web.no_welcome",
        "web",
        "From outside, http://FQDN/ is not the distribution's welcome page.",
        (_HOST,),
    ),
    # wordpress
    CheckDecl(
        "wordpress.https",
        "wordpress",
        "From outside, wp-admin/install.php over HTTPS is WordPress's page, made by PHP-FPM.",
        (_HOST,),
    ),
    CheckDecl(
        "wordpress.db_grants",
        "wordpress",
        "The WordPress database user's grants (SHOW GRANTS) name its own database only.",
        (
            Param("user", TEXT, "the MariaDB user WordPress logs in as"),
            Param("database", TEXT, "its database"),
        ),
    ),
    CheckDecl(
        "wordpress.code_readonly",
        "wordpress",
        "As PHP-FPM's user, nothing outside wp-content/uploads is writable (find -writable).",
        (
            Param("root", TEXT, "the site's web root (its links to the code)"),
            Param("php_version", TEXT, "the PHP version whose FPM pools say the user"),
        ),
    ),
    CheckDecl(
        "wordpress.xmlrpc",
        "wordpress",
        "From outside, xmlrpc.php answers 403 when blocked, WordPress's answer when open.",
        (_HOST, Param("blocked", BOOL, "whether XML-RPC was answered blocked")),
    ),
)

MANIFEST: Mapping[str, CheckDecl] = {decl.id: decl for decl in _DECLS}


# The area modules, in the order the first check of each is declared.
AREAS: tuple[str, ...] = tuple(dict.fromkeys(decl.area for decl in _DECLS))


def areas_of(check_ids: Iterable[str]) -> tuple[str, ...]:
    """The area modules registering these checks (unknown ids are the catalog's to refuse)."""
    wanted = {MANIFEST[cid].area for cid in check_ids if cid in MANIFEST}
    return tuple(area for area in AREAS if area in wanted)
