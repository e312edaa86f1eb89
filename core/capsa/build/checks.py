"""Checks shared by the instruction builders: flags (docker's BFlags rules), argument counts,
key-value triples, ports, durations. ``Invalid`` is the ``BuildError`` they raise; ``parse_plan``
prefixes it with the file and line."""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from capsa.build.durations import parse_duration
from capsa.build.parser import Node
from capsa.errors import BuildError

HINT = "see docs/containerfile.md for the instructions and flags capsa build accepts"


class Invalid(BuildError):
    """A malformed instruction; ``parse_plan`` adds the file and line."""

    def __init__(self, message: str, hint: str = HINT) -> None:
        super().__init__(message, hint)


_REFUSED = {
    "run": {"mount": "RUN --mount", "network": "RUN --network", "security": "RUN --security"},
    "copy": {"parents": "COPY --parents", "exclude": "COPY --exclude"},
    "add": {"checksum": "ADD --checksum", "keep-git-dir": "ADD --keep-git-dir",
            "exclude": "ADD --exclude", "unpack": "ADD --unpack"},
}
_FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "string"},
    "copy": {"from": "string", "chown": "string", "chmod": "string", "link": "bool"},
    "add": {"chown": "string", "chmod": "string", "link": "bool"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}


def check_flags(node: Node) -> dict[str, str | bool]:
    """The node's flags checked against what its instruction takes (docker's BFlags rules)."""
    spec = _FLAGS.get(node.keyword, {})
    refused = _REFUSED.get(node.keyword, {})
    keyword = node.keyword.upper()
    allowed = ", ".join(f"--{name}" for name in spec) or "none"
    values: dict[str, str | bool] = {}
    for raw in node.flags:
        if not raw.startswith("--"):
            raise Invalid(f"{keyword}: arg should start with -- : {raw}")
        name, has_value, value = raw[2:].partition("=")
        if name in refused:
            raise Invalid(f"{refused[name]} is not supported by capsa build",
                          "see docs/containerfile.md (what is refused and why)")
        kind = spec.get(name)
        if kind is None:
            raise Invalid(f"{keyword}: unknown flag: --{name}", f"{keyword} takes these flags: {allowed}")
        if name in values:
            raise Invalid(f"{keyword}: duplicate flag specified: --{name}")
        if kind == "bool":
            if has_value and value.lower() not in ("true", "false"):
                raise Invalid(f"{keyword}: expecting boolean value for flag --{name}, not: {value}")
            values[name] = not has_value or value.lower() == "true"
        else:
            if not has_value:
                raise Invalid(f"{keyword}: missing a value on flag: --{name}", f"write --{name}=VALUE")
            values[name] = value
    return values


def check_count(node: Node, low: int, high: int | None = None) -> None:
    n, keyword = len(node.args), node.keyword.upper()
    if high == low and n != low:
        what = "exactly one argument" if low == 1 else f"exactly {low} arguments"
        raise Invalid(f"{keyword} requires {what}")
    if n < low:
        what = "at least one argument" if low == 1 else f"at least {low} arguments"
        raise Invalid(f"{keyword} requires {what}")


def command_words(node: Node) -> list[str]:
    """Exec form: the words; shell form: one string (what docker's handleJSONArgs gives)."""
    return list(node.args) if node.json_form else [" ".join(node.args)]


def key_values(node: Node) -> list[tuple[str, str]]:
    keyword = node.keyword.upper()
    if not node.args:
        raise Invalid(f"{keyword} requires at least one argument")
    if len(node.args) % 3:
        raise Invalid(f"Bad input to {keyword}, too many arguments")
    pairs = [(node.args[i], node.args[i + 1]) for i in range(0, len(node.args), 3)]
    if any(not key for key, _ in pairs):
        raise Invalid(f"{keyword} names can not be blank", f"write {keyword} NAME=VALUE")
    return pairs


def duration_flag(flags: dict, name: str) -> int:
    text = flags.get(name)
    if not text:
        return 0
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise Invalid(f"HEALTHCHECK --{name}: {err}", "a duration is like 30s, 1m30s or 500ms") from None
    if value <= 0:
        raise Invalid(f"HEALTHCHECK --{name} must be positive", "leave the flag out for the default")
    if value < 1_000_000:
        raise Invalid(f"HEALTHCHECK --{name} cannot be less than 1ms")
    return value


def check_port(port: str) -> None:
    spec, _, proto = port.partition("/")
    if proto and proto.lower() not in ("tcp", "udp", "sctp"):
        raise Invalid(f"invalid proto: {proto}", "EXPOSE takes PORT[/tcp|/udp|/sctp] or a range START-END")
    low, dash, high = spec.partition("-")
    for part in (low, high) if dash else (low,):
        if not (part.isascii() and part.isdigit()) or not 0 < int(part) <= 65535:
            raise Invalid(f"invalid containerPort: {spec}", "a port is a number from 1 to 65535")
    if dash and int(high) < int(low):
        raise Invalid(f"invalid range specified for container port: {spec}", "write a range as LOW-HIGH")


class _EverythingSet(Mapping[str, str]):
    """An environment where every variable is set (to "1"): expanding with it checks the
    ``${...}`` syntax without tripping on values only the build will know."""

    def __getitem__(self, key: str) -> str:
        return "1"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


EVERYTHING_SET = _EverythingSet()
