"""ssh_config as OpenSSH reads it: ``ssh -G`` where the client is installed, else ours.

Both give the options ``ssh -G`` prints (lowercase names, each with its values):
OpenSSH's own answer, or the built-in reader's, which follows readconf.c (OpenSSH
9.2) for what sockstat uses and is held to ``ssh -G``'s answers by the same corpus
of cases (tests/test_sshconfig.py).  What the built-in reader cannot follow
(``Match exec``, ``Match localnetwork``, ``Match tagged``) is named in one warning.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import subprocess
import threading
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from common.errors import ConfigError
from common.format import escape_text
from controller import logs

SYSTEM_CONFIG = "/etc/ssh/ssh_config"
USER_CONFIG = "~/.ssh/config"
MAX_INCLUDE_DEPTH = 16  # readconf.c READCONF_MAX_DEPTH
# What sockstat acts on (controller/targets.py); ssh -G prints many more.
USED = frozenset({
    "hostname", "port", "user", "identityfile", "identitiesonly", "proxyjump",
    "proxycommand", "userknownhostsfile", "globalknownhostsfile",
    "stricthostkeychecking", "connecttimeout", "serveraliveinterval", "hostkeyalias",
})  # fmt: skip
# Directives that change nothing for a non-interactive survey by sockstat.
HARMLESS = frozenset({
    "host", "match", "include", "batchmode", "loglevel", "compression", "forwardagent",
    "forwardx11", "forwardx11trusted", "requesttty", "controlmaster", "controlpath",
    "controlpersist", "addkeystoagent", "hashknownhosts", "serveralivecountmax",
    "preferredauthentications", "pubkeyauthentication", "passwordauthentication",
    "kbdinteractiveauthentication", "challengeresponseauthentication", "sendenv",
    "setenv", "visualhostkey", "updatehostkeys", "gssapiauthentication",
    "gssapidelegatecredentials", "localforward", "remoteforward", "dynamicforward",
    "exitonforwardfailure", "escapechar", "tcpkeepalive", "connectionattempts",
    "checkhostip", "usekeychain", "ignoreunknown",
})  # fmt: skip
# readconf.c fill_default_options(): the identity files tried when none is given.
DEFAULT_IDENTITIES = (
    "~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa",
)  # fmt: skip
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
# Keywords whose every line adds values; for all others the first value found wins.
ACCUMULATE = frozenset({"identityfile", "certificatefile", "localforward", "sendenv"})
TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME_PART = re.compile(r"(\d+)([smhdw]?)", re.IGNORECASE)

Options = Dict[str, List[str]]
# What ssh says on stderr whatever the config: not a reason.
NOISE = ("Pseudo-terminal will not be allocated",)
_warned: set[str] = set()
_warn_lock = threading.Lock()


def check_owner(path: str) -> None:
    """Refuse a user config another user could write, as OpenSSH does (readconf.c).

    secure_permissions(): owned by the user or root, not writable by group or others.
    """
    try:
        info = os.stat(path)
    except OSError:
        return
    if info.st_uid not in (0, os.getuid()) or info.st_mode & 0o022:
        msg = f"bad owner or permissions on {path}"
        raise ConfigError(msg)


def warn_once(message: str, key: Optional[str] = None) -> None:
    """Log a warning the first time it (or its ``key``) is given in a run."""
    with _warn_lock:
        if (key or message) in _warned:
            return
        _warned.add(key or message)
    logs.get(__name__).warning("%s", message)


def home() -> str:
    """Return the user's home as OpenSSH finds it: from passwd, not $HOME."""
    return pwd.getpwuid(os.getuid()).pw_dir


def local_user() -> str:
    """Return the local user name (OpenSSH's default remote user)."""
    return pwd.getpwuid(os.getuid()).pw_name


def tilde(path: str) -> str:
    """Expand a leading ``~``, ``~/`` or ``~user/`` as OpenSSH's tilde_expand() does.

    An unknown user is a configuration error, as in OpenSSH.
    """
    if not path.startswith("~"):
        return path
    name, slash, rest = path[1:].partition("/")
    if not name:
        return home() + slash + rest
    try:
        return pwd.getpwnam(name).pw_dir + slash + rest
    except KeyError:
        msg = f"no such user {name!r} in {path!r}"
        raise ConfigError(msg) from None


class SshG:
    """Ask the installed OpenSSH client: ``ssh -G`` connects to nothing."""

    name = "ssh -G"

    def __init__(self, config: Optional[str], ssh: str = "ssh") -> None:
        self.config = config
        self.ssh = ssh
        self._cache: Dict[Tuple[str, ...], Options] = {}
        self._lock = threading.Lock()

    def lookup(
        self,
        host: str,
        *,
        user: Optional[str] = None,
        port: Optional[int] = None,
        extra: Sequence[str] = (),
    ) -> Options:
        """Return what ``ssh -G`` prints for this host, user and port."""
        argv = [self.ssh, "-G"]
        if self.config:
            argv += ["-F", self.config]
        if user:
            argv += ["-l", user]
        if port:
            argv += ["-p", str(port)]
        argv += [*extra, "--", host]
        key = tuple(argv)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            done = subprocess.run(
                argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=30,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as err:
            msg = f"cannot run ssh -G: {err}"
            raise ConfigError(msg) from err
        if done.returncode:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = "; ".join(line for line in lines if not line.startswith(NOISE))
            reason = reason or f"exit {done.returncode}"
            msg = f"ssh -G {escape_text(host)}: {escape_text(reason)}"
            raise ConfigError(msg)
        try:
            text = done.stdout.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = err.object[err.start : err.end]
            msg = f"ssh -G {escape_text(host)}: ssh_config gives bytes not UTF-8 ({bad!r})"
            raise ConfigError(msg) from None
        options = parse_ssh_g(text)
        with self._lock:
            self._cache[key] = options
        return options


def parse_ssh_g(text: str) -> Options:
    """Parse ``ssh -G`` output: one ``keyword value`` per line, keywords repeating."""
    options: Options = {}
    for line in text.splitlines():
        keyword, _, value = line.partition(" ")
        if keyword in USED:
            if keyword in ("userknownhostsfile", "globalknownhostsfile"):
                options.setdefault(keyword, []).extend(_known_hosts_paths(value))
            else:
                options.setdefault(keyword, []).append(value)
    return options


def _known_hosts_paths(value: str) -> List[str]:
    """Split known_hosts paths as ``ssh -G`` prints them: space-separated, unquoted.

    A path with a space in it cannot be told from two paths; a piece that is not
    absolute (as every expanded path is) is left out and named, rather than read
    from the current directory.
    """
    paths = []
    for piece in value.split():
        if piece.startswith("/") or piece == "none":
            paths.append(piece)
        else:
            warn_once(f"ssh_config: known_hosts path {escape_text(piece)!r} is not "
                      "absolute (a path with a space?): not read")  # fmt: skip
    return paths


def argv_split(text: str) -> List[str]:
    r"""Split arguments as OpenSSH does (misc.c): quotes, backslashes, comments.

    >>> argv_split('"a b" c\\\\ d # comment')
    ['a b', 'c d']
    """
    words: List[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t":
            index += 1
            continue
        if char == "#":  # a comment starts at the start of a word
            break
        word: List[str] = []
        quote = ""
        while index < len(text):
            char = text[index]
            following = text[index + 1 : index + 2]
            escaped = following in ("'", '"', "\\") or (not quote and following == " ")
            if char == "\\" and escaped:
                word.append(following)
                index += 2
                continue
            if not quote and char in " \t":
                break
            if not quote and char in "'\"":
                quote = char
            elif quote and char == quote:
                quote = ""
            else:
                word.append(char)
            index += 1
        if quote:
            msg = "invalid quotes"
            raise ValueError(msg)
        words.append("".join(word))
    return words


def convtime(text: str) -> Optional[int]:
    """Seconds in an OpenSSH time (``90``, ``1m``, ``1h30m``), None if invalid."""
    if not text or _TIME_PART.sub("", text):
        return None
    return sum(int(n) * TIME_UNITS[u.lower()] for n, u in _TIME_PART.findall(text))


def match_pattern(name: str, pattern: str) -> bool:
    """Match ``*`` and ``?`` wildcards, case-sensitive, as OpenSSH does (match.c)."""
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, name, re.DOTALL) is not None


def match_pattern_list(name: str, patterns: str, *, fold: bool = False) -> bool:
    """Match a comma list of patterns where ``!`` negates, as OpenSSH (match.c)."""
    if fold:
        name = name.lower()
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if match_pattern(name, body.lower() if fold else body):
            if negated:
                return False
            matched = True
    return matched


class BuiltinConfig:
    """The built-in reader of ssh_config (``-F FILE``, or the user's and the system's)."""

    name = "built-in ssh_config reader"

    def __init__(self, config: Optional[str]) -> None:
        self.config = config

    def files(self) -> List[Tuple[str, bool]]:
        """(path, is a user file) in the order OpenSSH reads them."""
        if self.config == "none":  # ssh -F none: no config file at all
            return []
        if self.config:
            return [(self.config, True)]
        return [(tilde(USER_CONFIG), True), (SYSTEM_CONFIG, False)]

    def lookup(
        self,
        host: str,
        *,
        user: Optional[str] = None,
        port: Optional[int] = None,
        extra: Sequence[str] = (),
    ) -> Options:
        """Return what ``ssh -G`` would print for this host, user and port."""
        state = _State(host)
        if user:
            state.options["user"] = [user]
        if port:
            state.options["port"] = [str(port)]
        for argument in _command_line(extra):
            state.line(argument, "command line", 0, user_file=True, depth=0)
        # ssh.c checks the owner of ~/.ssh/config (and of every Include), not of -F.
        check = self.config is None
        for path, user_file in self.files():
            state.read(path, user_file, depth=0, check=check and user_file)
        if state.final_pass:  # "Match final": a second pass, as ssh.c does
            # ...where Host lines match the HostName found so far (ssh.c passes
            # the expanded host name to the second process_config_files()).
            state.final = True
            state.host_for_host_lines = state.current_host().lower()
            for path, user_file in self.files():
                state.read(path, user_file, depth=0, check=check and user_file)
        return state.finish()


def _command_line(extra: Sequence[str]) -> List[str]:
    """Turn -o and -J arguments into config lines, read before any file as ssh does."""
    lines = []
    args = iter(extra)
    for arg in args:
        value = next(args, "")
        if arg == "-o":
            lines.append(value)
        elif arg == "-J":
            lines.append(f"ProxyJump {value}")
    return lines


class _State:
    """One lookup: the options found so far, first value wins (readconf.c)."""

    def __init__(self, host: str) -> None:
        self.host_arg = host
        self.host_for_host_lines = host
        self.options: Options = {}
        self.final = False
        self.final_pass = False

    def read(
        self,
        path: str,
        user_file: bool,
        *,
        depth: int,
        never: bool = False,
        check: bool = True,
    ) -> None:
        """Read one file; ``never``: an Include inside an inactive block (parse only)."""
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            if depth == 0 and path != SYSTEM_CONFIG and path != tilde(USER_CONFIG):
                msg = f"cannot read ssh_config {path}: no such file"
                raise ConfigError(msg) from None
            return
        except (OSError, UnicodeDecodeError) as err:
            msg = f"cannot read ssh_config {path}: {getattr(err, 'strerror', None) or err}"
            raise ConfigError(msg) from None
        if check:
            check_owner(path)
        # The current block applies; nothing ever matches (an Include inside a
        # block that does not apply is parsed, and nothing in it applies).
        state = [not never, never]
        for lineno, line in enumerate(lines, start=1):
            self.line(line, path, lineno, user_file=user_file, depth=depth, state=state)

    def line(
        self,
        text: str,
        path: str,
        lineno: int,
        *,
        user_file: bool,
        depth: int,
        state: Optional[List[bool]] = None,
    ) -> None:
        active = state if state is not None else [True, False]
        parts = re.match(r"\s*([^\s=]*)\s*(?:=\s*)?(.*?)\s*$", text)
        keyword, rest = (parts.group(1).lower(), parts.group(2)) if parts else ("", "")
        if not keyword or keyword.startswith("#"):
            return
        where = f"{path} line {lineno}"
        try:
            args = argv_split(rest)
        except ValueError:
            msg = f"{where}: invalid quotes"
            raise ConfigError(msg) from None
        if not args:
            msg = f"{where}: no argument after keyword {keyword!r}"
            raise ConfigError(msg)
        if keyword == "host":
            active[0] = self._host(args) and not active[1]
        elif keyword == "match":
            active[0] = self._match(args, where) and not active[1]
        elif keyword == "include":
            # Parsed even inside an inactive block, but then nothing in it applies.
            self._include(args, user_file, depth, active[0] and not active[1], where)
        elif active[0]:
            self._set(keyword, rest, args, where)

    def _host(self, patterns: List[str]) -> bool:
        matched = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            body = pattern[1:] if negated else pattern
            if match_pattern(self.host_for_host_lines, body):
                if negated:
                    return False
                matched = True
        return matched

    def current_host(self) -> str:
        """Return the HostName found so far (%h expanded), else the host."""
        hostname = self.options.get("hostname")
        if hostname:
            return expand_hostname(hostname[0], self.host_arg)
        return self.host_arg

    def _match(self, args: List[str], where: str) -> bool:
        result = True
        unknown = False  # a criterion the reader cannot evaluate: not applied
        words = iter(args)
        attributes = 0
        for word in words:
            negate = word.startswith("!")
            attribute = (word[1:] if negate else word).lower()
            if attribute == "all":
                return not negate and result
            attributes += 1
            if attribute in ("final", "canonical"):
                if attribute == "final":
                    self.final_pass = True
                matched = self.final
            else:
                value = next(words, None)
                if value is None:
                    msg = f"{where}: missing Match criteria for {attribute}"
                    raise ConfigError(msg)
                if attribute == "host":
                    matched = match_pattern_list(self.current_host(), value, fold=True)
                elif attribute == "originalhost":
                    matched = match_pattern_list(self.host_arg, value, fold=True)
                elif attribute == "user":
                    user = self.options.get("user", [local_user()])[0]
                    matched = match_pattern_list(user, value)
                elif attribute == "localuser":
                    matched = match_pattern_list(local_user(), value)
                else:
                    warn_once(
                        f"ssh_config: the built-in reader cannot follow 'Match "
                        f"{attribute}': those blocks are not applied (first at "
                        f"{where}); install the OpenSSH client (ssh -G) for the "
                        "exact answer",
                        key=f"match {attribute}",
                    )
                    unknown = True
                    continue
            if matched == negate:
                result = False
        if not attributes:
            msg = f"{where}: one or more attributes required for Match"
            raise ConfigError(msg)
        return result and not unknown

    def _include(
        self, args: List[str], user_file: bool, depth: int, active: bool, where: str
    ) -> None:
        if depth + 1 > MAX_INCLUDE_DEPTH:
            msg = f"{where}: Include nested more than {MAX_INCLUDE_DEPTH} deep"
            raise ConfigError(msg)
        for arg in args:
            # Relative paths are in ~/.ssh (a user file) or /etc/ssh (readconf.c).
            anchored = arg
            if not arg.startswith(("/", "~")):
                anchored = ("~/.ssh/" if user_file else "/etc/ssh/") + arg
            for path in sorted(glob.glob(tilde(anchored))):
                self.read(path, user_file, depth=depth + 1, never=not active, check=True)

    def _set(self, keyword: str, rest: str, args: List[str], where: str) -> None:
        options = self.options
        if keyword in ("proxycommand", "proxyjump"):
            # First of the two found wins (readconf.c: parse_jump(), oProxyCommand).
            if "proxycommand" in options or "proxyjump" in options:
                return
            value = rest.lstrip(" \t=")
            if keyword == "proxyjump":
                value = value.split("#", 1)[0].strip()
                if value.lower() == "none":
                    options["proxyjump"] = ["none"]
                    return
                hops = value.split(",")
                if any(not h or h != h.strip() or " " in h for h in hops):
                    msg = f"{where}: invalid ProxyJump {value!r}"
                    raise ConfigError(msg)
            options[keyword] = [value]
            return
        if keyword in ("userknownhostsfile", "globalknownhostsfile"):
            options.setdefault(keyword, list(args))
            return
        if keyword in ("connecttimeout", "serveraliveinterval"):
            seconds = convtime(args[0])
            if seconds is None and not (keyword == "connecttimeout" and args[0] == "none"):
                msg = f"{where}: invalid time value {args[0]!r}"
                raise ConfigError(msg)
            value_text = "none" if seconds is None else str(seconds)
            options.setdefault(keyword, [value_text])
            return
        if keyword == "port":
            args = [str(_port(args[0], where))]
        if keyword in FLAGS and args[0].lower() not in FLAGS[keyword]:
            msg = f"{where}: unsupported option {args[0]!r} for {keyword}"
            raise ConfigError(msg)
        if keyword in ("user", "hostname", "hostkeyalias") and not args[0]:
            msg = f"{where}: empty {keyword}"
            raise ConfigError(msg)
        if keyword in ACCUMULATE:
            options.setdefault(keyword, []).append(args[0])
            return
        if keyword not in USED and keyword not in HARMLESS:
            warn_once(f"ssh_config: ignoring {keyword} (not supported by sockstat)")
        options.setdefault(keyword, [args[0]])

    def finish(self) -> Options:
        """Fill in OpenSSH's defaults and the expansions ``ssh -G`` shows."""
        options = self.options
        host = self.current_host().lower()  # ssh.c lowercase()s it once resolved
        options["hostname"] = [host]
        options.setdefault("user", [local_user()])
        options.setdefault("port", ["22"])
        options.setdefault("identityfile", list(DEFAULT_IDENTITIES))
        options.setdefault("identitiesonly", ["no"])
        options.setdefault("stricthostkeychecking", ["ask"])
        options.setdefault("connecttimeout", ["none"])
        options.setdefault("serveraliveinterval", ["0"])
        options.setdefault("globalknownhostsfile", list(DEFAULT_GLOBAL_KNOWN_HOSTS))
        known = options.setdefault("userknownhostsfile", list(DEFAULT_USER_KNOWN_HOSTS))
        if "hostkeyalias" in options:
            options["hostkeyalias"] = [options["hostkeyalias"][0].lower()]
        values = connection_tokens(
            host=host, host_arg=self.host_arg, port=int(options["port"][0]),
            user=options["user"][0], alias=options.get("hostkeyalias", [None])[0],
        )  # fmt: skip
        options["userknownhostsfile"] = [
            expand_tokens(tilde(k), values, environment=True) for k in known
        ]
        options["identitiesonly"] = [_flag(options["identitiesonly"][0], YES_NO)]
        strict = _flag(options["stricthostkeychecking"][0], STRICT)
        options["stricthostkeychecking"] = [strict]
        if options.get("proxyjump") == ["none"]:
            del options["proxyjump"]
        elif "proxyjump" in options:
            options["proxyjump"] = [print_jump(options["proxyjump"][0])]
        if options.get("proxycommand", [""])[0].lower() == "none":
            del options["proxycommand"]
        return {k: v for k, v in options.items() if k in USED}


def print_jump(text: str) -> str:
    """Print a ProxyJump as ``ssh -G`` does: the last hop parsed, numeric hosts in [].

    readconf.c dump_client_config() (the hops before the last are kept as written).

    >>> print_jump("a,ssh://bob@10.0.0.1:2200")
    'a,bob@[10.0.0.1]:2200'
    """
    extra, comma, last = text.rpartition(",")
    last = last.strip()
    last = last[len("ssh://") :] if last.startswith("ssh://") else last
    user, at, rest = last.rpartition("@")
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
    else:
        host, _, port = rest.partition(":")
    numeric = ":" in host or all(c in "0123456789." for c in host)
    shown = f"[{host}]" if numeric else host
    return f"{extra}{comma}{user}{at}{shown}{':' + port if port else ''}"


def _port(text: str, where: str) -> int:
    """Return a port given as a number or service name, as misc.c a2port() reads it."""
    if text.isdigit():
        number = int(text)
    else:
        import socket  # noqa: PLC0415 - service names only

        try:
            number = socket.getservbyname(text, "tcp")
        except OSError:
            number = 0
    if not 0 < number < 65536:
        msg = f"{where}: bad port {text!r}"
        raise ConfigError(msg)
    return number


# How ``ssh -G`` prints a flag and StrictHostKeyChecking (readconf.c multistates).
YES_NO = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}
STRICT = {"yes": "true", "true": "true", "no": "false", "false": "false", "off": "false",
          "ask": "ask", "accept-new": "accept-new"}  # fmt: skip
# The values readconf.c's multistate tables accept for the flags sockstat reads.
FLAGS = {
    "stricthostkeychecking": frozenset(STRICT),
    "identitiesonly": frozenset(YES_NO),
}


def _flag(value: str, names: Dict[str, str]) -> str:
    """Return a flag's value as ``ssh -G`` prints it."""
    lowered = value.lower()
    return names.get(lowered, lowered)


def expand_hostname(hostname: str, host_arg: str) -> str:
    """HostName's ``%h`` and ``%%`` (readconf.c: percent_expand with "h" only)."""
    return expand_tokens(hostname, {"h": host_arg})


def connection_tokens(
    *, host: str, host_arg: str, port: int, user: str, alias: Optional[str]
) -> Dict[str, str]:
    """Return the values of sshconnect.h DEFAULT_CLIENT_PERCENT_EXPAND_ARGS."""
    import hashlib  # noqa: PLC0415 - %C only
    import socket  # noqa: PLC0415

    this = socket.gethostname()
    entry = pwd.getpwuid(os.getuid())
    digest = hashlib.sha1((this + host + str(port) + user).encode()).hexdigest()  # noqa: S324 - OpenSSH's %C
    return {
        "C": digest, "L": this.split(".")[0], "i": str(entry.pw_uid),
        "k": alias or host_arg, "l": this, "n": host_arg, "p": str(port),
        "d": entry.pw_dir, "h": host, "r": user, "u": entry.pw_name,
    }  # fmt: skip


def expand_tokens(text: str, values: Dict[str, str], *, environment: bool = False) -> str:
    """Expand ``%x`` tokens (and ``%%``) as OpenSSH's percent_expand() does, raw.

    With ``environment``, ``${NAME}`` too, from the environment (misc.c
    dollar_expand(), used for IdentityFile and the like).  For paths and names
    only: a value that reaches a shell is quoted instead
    (controller/proxycommand.py).  An unknown token is a configuration error.
    """
    out = []
    index = 0
    while index < len(text):
        if environment and text.startswith("${", index):
            end = text.find("}", index)
            name = text[index + 2 : end] if end > 0 else ""
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                msg = f"invalid environment variable in {text!r}"
                raise ConfigError(msg)
            if name not in os.environ:
                msg = f"environment variable ${{{name}}} in {text!r} is not set"
                raise ConfigError(msg)
            out.append(os.environ[name])
            index = end + 1
            continue
        if text[index] != "%":
            out.append(text[index])
            index += 1
            continue
        key = text[index + 1 : index + 2]
        if key == "%":
            out.append("%")
        elif key in values:
            out.append(values[key])
        else:
            msg = f"unknown token %{key} in {text!r}"
            raise ConfigError(msg)
        index += 2
    return "".join(out)
