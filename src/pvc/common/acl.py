"""A checked grammar for firewall ACL rules.

An ACL rule is an nftables rule fragment as operators write it, e.g.
``ip saddr 10.0.0.0/24 tcp dport { 22, 80 } counter accept``. `parse_rule` accepts exactly
the grammar below and returns the rule in one canonical spelling; anything else is refused
with `InvalidArgument`, naming the offending token (and its 1-based character position)
and what was expected there. Nothing outside the grammar ever reaches nft.

    rule     := item* verdict           item := match | "counter" (counter at most once)
    verdict  := "accept" | "drop" | "reject" [ "with" reason ]
    reason   := "tcp" "reset" | "icmp" "type" ICMP_REJECT | "icmpv6" "type" ICMPV6_REJECT
    match    := ("ip" | "ip6") ("saddr" | "daddr") ["!="] address-or-set
              | ("tcp" | "udp" | "sctp") ("sport" | "dport") ["!="] port-or-set
              | "meta" "l4proto" proto-or-set | "ip" "protocol" proto-or-set
              | "ip6" "nexthdr" proto-or-set
              | "icmp" "type" icmp-type-or-set | "icmpv6" "type" icmpv6-type-or-set
              | "ct" "state" state ("," state)* | "ct" "state" "{" state ("," state)* "}"
              | "limit" "rate" ["over"] N "/" unit   (also written N/unit; N 1-1000000)
    set      := "{" element ("," element)* "}"     (1-64 distinct elements)

Besides the grammar, a rule is refused when nft would refuse it or it could never match:
IPv4 and IPv6 forms mixed in one rule, headers of two protocols (``tcp dport`` with
``udp dport``), a protocol selector that disagrees with a header match, or
``reject with tcp reset`` on anything but tcp.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from pvc.common.errors import InvalidArgument

MAX_RULE_LENGTH = 1024
MAX_SET_ELEMENTS = 64

_ALLOWED_CHARACTERS = frozenset(string.ascii_letters + string.digits + " .:/_,{}!=-")
_TOKEN = re.compile(r"!=|[{},!]|[^ {},!]+")

VERDICTS = ("accept", "drop", "reject")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "esp", "ah", "igmp")
ICMP_TYPES = (
    "echo-request", "echo-reply", "destination-unreachable", "time-exceeded",
    "parameter-problem", "redirect", "router-advertisement", "router-solicitation",
    "timestamp-request", "timestamp-reply",
)
ICMPV6_TYPES = (
    "echo-request", "echo-reply", "destination-unreachable", "packet-too-big", "time-exceeded",
    "parameter-problem", "nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit",
    "nd-neighbor-advert", "mld-listener-query", "mld-listener-report",
)
CT_STATES = ("new", "established", "related", "invalid", "untracked")
ICMP_REJECT_TYPES = ("host-unreachable", "port-unreachable", "admin-prohibited", "net-unreachable")
ICMPV6_REJECT_TYPES = ("no-route", "admin-prohibited", "addr-unreachable", "port-unreachable")
RATE_UNITS = ("second", "minute", "hour", "day")
MAX_RATE = 1_000_000

_FAMILY_NAMES = {"ip": "IPv4", "ip6": "IPv6"}


@dataclass(frozen=True)
class AclRule:
    text: str  # the canonical rule, safe to put into an nft ruleset as one rule line
    families: frozenset[str]  # families the rule's matches require; empty = both
    verdict: str  # "accept" | "drop" | "reject"


class _BadValue(ValueError):
    """An element token is not valid; the message says why."""


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiouAEIOU" else "a ") + noun


def _one_of(names: tuple[str, ...]) -> str:
    if len(names) == 1:
        return repr(names[0])
    return "one of " + ", ".join(repr(name) for name in sorted(names))


# ---- element checkers: token text -> canonical text, or _BadValue(reason) ----------------


def _address_checker(family: str) -> Callable[[str], str]:
    version = 4 if family == "ip" else 6
    name = _FAMILY_NAMES[family]

    def check(token: str) -> str:
        address_text, slash, length = token.partition("/")
        try:
            address = ipaddress.ip_address(address_text)
        except ValueError:
            raise _BadValue(f"expected {_a(name)} address or prefix") from None
        if address.version != version:
            other = "ip6" if family == "ip" else "ip"
            raise _BadValue(
                f"this is an IPv{address.version} address; '{family} saddr/daddr' takes "
                f"{name} only (use '{other}' for IPv{address.version})"
            )
        if not slash:
            return address.compressed
        bits = address.max_prefixlen
        if not re.fullmatch(r"[0-9]{1,3}", length) or int(length) > bits:
            raise _BadValue(f"the prefix length must be a number from 0 to {bits}")
        network = ipaddress.ip_network(f"{address.compressed}/{int(length)}", strict=False)
        if network.network_address != address:
            raise _BadValue(
                f"host bits are set after the /{network.prefixlen} prefix "
                f"(the network is {network.compressed})"
            )
        return network.compressed

    return check


def _port_number(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise _BadValue("ports are numbers from 1 to 65535")
    return int(text)


def _check_port(token: str) -> str:
    low, dash, high = token.partition("-")
    if not dash:
        return str(_port_number(token))
    first, last = _port_number(low), _port_number(high)
    if first >= last:
        raise _BadValue("a port range must go from a lower to a higher port")
    return f"{first}-{last}"


def _name_checker(names: tuple[str, ...]) -> Callable[[str], str]:
    def check(token: str) -> str:
        if token not in names:
            raise _BadValue(f"expected {_one_of(names)}")
        return token

    return check


# ---- the table of matches ------------------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    what: str  # how an element is called in messages
    check: Callable[[str], str]
    negatable: bool = False
    family: str | None = None  # "ip" / "ip6" when the match needs that family
    header: str | None = None  # the protocol whose header the match reads
    selector: bool = False  # the match selects a layer 4 protocol


def _address_match(family: str) -> _Match:
    return _Match(f"{_FAMILY_NAMES[family]} address", _address_checker(family), True, family)


def _port_match(protocol: str) -> _Match:
    return _Match(f"{protocol} port", _check_port, True, header=protocol)


_MATCHES: dict[tuple[str, str], _Match] = {
    ("ip", "saddr"): _address_match("ip"),
    ("ip", "daddr"): _address_match("ip"),
    ("ip6", "saddr"): _address_match("ip6"),
    ("ip6", "daddr"): _address_match("ip6"),
    **{(p, d): _port_match(p) for p in ("tcp", "udp", "sctp") for d in ("sport", "dport")},
    ("meta", "l4proto"): _Match("protocol", _name_checker(PROTOCOLS), selector=True),
    ("ip", "protocol"): _Match(
        "protocol", _name_checker(tuple(p for p in PROTOCOLS if p != "icmpv6")),
        family="ip", selector=True,
    ),
    ("ip6", "nexthdr"): _Match(
        "protocol", _name_checker(tuple(p for p in PROTOCOLS if p != "icmp")),
        family="ip6", selector=True,
    ),
    ("icmp", "type"): _Match("icmp type", _name_checker(ICMP_TYPES), family="ip", header="icmp"),
    ("icmpv6", "type"): _Match(
        "icmpv6 type", _name_checker(ICMPV6_TYPES), family="ip6", header="icmpv6"
    ),
}
_SPECIAL = (("ct", "state"), ("limit", "rate"))


def _second_words() -> dict[str, tuple[str, ...]]:
    words: dict[str, list[str]] = {}
    for first, second in [*_MATCHES, *_SPECIAL]:
        words.setdefault(first, []).append(second)
    return {first: tuple(seconds) for first, seconds in words.items()}


_SECOND_WORDS = _second_words()
_RULE_START = (*_SECOND_WORDS, "counter", *VERDICTS)


# ---- the parser ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    position: int  # 1-based character position in the rule text


@dataclass(frozen=True)
class _Protocols:
    """What one match says about the layer 4 protocol, for the conflict checks."""

    label: str  # e.g. "'tcp dport'"
    position: int
    names: tuple[str, ...]  # the protocols it allows
    header: bool  # it reads that protocol's header (so needs exactly it)

    def describe(self) -> str:
        verb = "needs" if self.header else "selects"
        return f"{self.label} {verb} {', '.join(self.names)}"


def _tokenize(text: str) -> list[_Token]:
    if not isinstance(text, str):
        raise InvalidArgument(f"An ACL rule must be text, not {type(text).__name__}")
    if not text.strip():
        raise InvalidArgument("Empty ACL rule: expected matches followed by a verdict")
    if len(text) > MAX_RULE_LENGTH:
        raise InvalidArgument(
            f"ACL rule is {len(text)} characters long: the limit is {MAX_RULE_LENGTH}"
        )
    for index, char in enumerate(text):
        if char not in _ALLOWED_CHARACTERS:
            raise InvalidArgument(
                f"Invalid character {char!r} at position {index + 1} in ACL rule: only "
                "letters, digits, spaces and . : / _ , { } ! = - are allowed"
            )
    return [_Token(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.words: list[str] = []  # the canonical rule, token by token
        self.families: dict[str, str] = {}  # family -> label of the first match needing it
        self.protocols: list[_Protocols] = []

    # -- token access

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise InvalidArgument(f"Unexpected end of ACL rule: expected {expected}")
        self.index += 1
        return token

    def expect(self, names: tuple[str, ...]) -> _Token:
        token = self.next(_one_of(names))
        if token.text not in names:
            raise _unexpected(token, _one_of(names))
        return token

    # -- the rule

    def rule(self) -> AclRule:
        counted = False
        while True:
            token = self.next(f"a match, 'counter' or a verdict ({_one_of(VERDICTS)})")
            if token.text in VERDICTS:
                verdict = self.verdict(token)
                break
            if token.text == "counter":
                if counted:
                    raise InvalidArgument(
                        f"Unexpected second 'counter' at position {token.position}: "
                        "a rule may have one counter"
                    )
                counted = True
                self.words.append("counter")
            elif token.text in _SECOND_WORDS:
                self.match(token)
            else:
                raise _unexpected(token, _one_of(_RULE_START))
        rest = self.peek()
        if rest is not None:
            raise _unexpected(rest, f"the end of the rule after the verdict {verdict!r}")
        text = " ".join(self.words)
        if len(text) > MAX_RULE_LENGTH:
            raise InvalidArgument(
                f"ACL rule is {len(text)} characters long once written out in full: "
                f"the limit is {MAX_RULE_LENGTH}"
            )
        return AclRule(text, frozenset(self.families), verdict)

    def match(self, first: _Token) -> None:
        second = self.expect(_SECOND_WORDS[first.text])
        key = (first.text, second.text)
        label = f"'{first.text} {second.text}'"
        self.words += [first.text, second.text]
        if key == ("ct", "state"):
            self.ct_states()
            return
        if key == ("limit", "rate"):
            self.limit()
            return
        spec = _MATCHES[key]
        if spec.family:
            self.need_family(spec.family, label, first.position)
        if spec.negatable:
            token = self.peek()
            if token is not None and token.text == "!=":
                self.index += 1
                self.words.append("!=")
        values = self.values(spec)
        if spec.header:
            self.add_protocols(_Protocols(label, first.position, (spec.header,), True))
        elif spec.selector:
            self.add_protocols(_Protocols(label, first.position, tuple(values), False))

    def values(self, spec: _Match) -> list[str]:
        """One element, or a set of them; appends the canonical form to the rule."""
        token = self.next(f"{_a(spec.what)} or a set of them in {{ }}")
        if token.text != "{":
            value = self.element(token, spec)
            self.words.append(value)
            return [value]
        values = self.set_elements(token, spec.what, lambda t: self.element(t, spec))
        self.words.append("{ " + ", ".join(values) + " }")
        return values

    def set_elements(
        self, opening: _Token, what: str, element: Callable[[_Token], str]
    ) -> list[str]:
        values: list[str] = []
        while True:
            token = self.next(f"{_a(what)}, then ',' or '}}'")
            if token.text == "}" and not values:
                raise InvalidArgument(
                    f"Empty set at position {opening.position}: a set needs 1 to "
                    f"{MAX_SET_ELEMENTS} elements"
                )
            value = element(token)
            if value in values:
                raise InvalidArgument(
                    f"Duplicate {what} {token.text!r} at position {token.position} in the set"
                )
            values.append(value)
            if len(values) > MAX_SET_ELEMENTS:
                raise InvalidArgument(
                    f"Too many elements in the set at position {opening.position}: "
                    f"the limit is {MAX_SET_ELEMENTS}"
                )
            separator = self.next("',' or '}'")
            if separator.text == "}":
                return values
            if separator.text != ",":
                raise _unexpected(separator, "',' or '}' in the set")

    def element(self, token: _Token, spec: _Match) -> str:
        if token.text in ("{", "}", ",", "!="):
            raise _unexpected(token, _a(spec.what))
        try:
            return spec.check(token.text)
        except _BadValue as exc:
            raise InvalidArgument(
                f"Invalid {spec.what} {token.text!r} at position {token.position}: {exc}"
            ) from None

    def ct_states(self) -> None:
        def state(token: _Token) -> str:
            if token.text not in CT_STATES:
                raise _unexpected(token, f"a connection state, {_one_of(CT_STATES)}")
            return token.text

        first = self.next(f"a connection state, {_one_of(CT_STATES)}")
        if first.text == "{":
            states = self.set_elements(first, "connection state", state)
        else:
            states = [state(first)]
            while (comma := self.peek()) is not None and comma.text == ",":
                self.index += 1
                token = self.next(f"a connection state after ',', {_one_of(CT_STATES)}")
                if state(token) in states:
                    raise InvalidArgument(
                        f"Duplicate connection state {token.text!r} at position "
                        f"{token.position}"
                    )
                states.append(token.text)
        self.words.append(",".join(states))

    def limit(self) -> None:
        expected = "a rate such as 10/second"
        token = self.next(f"'over' or {expected}")
        if token.text == "over":
            self.words.append("over")
            token = self.next(expected)
        if not token.text[:1].isdigit():
            raise _unexpected(token, expected)
        # The rate may come as one token (10/second) or as several (10 / second).
        text = token.text
        if "/" not in text:
            slash = self.next(f"'/' and a unit after {text!r}")
            if not slash.text.startswith("/"):
                raise _unexpected(slash, f"'/' and a unit after {text!r}")
            text += slash.text
        if text.endswith("/"):
            text += self.next(f"a unit, {_one_of(RATE_UNITS)}").text
        count, _, unit = text.partition("/")
        if not re.fullmatch(r"[0-9]{1,7}", count) or not 1 <= int(count) <= MAX_RATE:
            raise InvalidArgument(
                f"Invalid rate {text!r} at position {token.position}: expected a number of "
                f"packets from 1 to {MAX_RATE}, then '/' and a unit"
            )
        if unit not in RATE_UNITS:
            raise InvalidArgument(
                f"Invalid rate {text!r} at position {token.position}: expected a unit after "
                f"'/', {_one_of(RATE_UNITS)}"
            )
        self.words.append(f"{int(count)}/{unit}")

    def verdict(self, token: _Token) -> str:
        self.words.append(token.text)
        if token.text != "reject":
            return token.text
        with_ = self.peek()
        if with_ is None:
            return "reject"
        if with_.text != "with":
            raise _unexpected(with_, "'with' or the end of the rule after 'reject'")
        self.index += 1
        kind = self.expect(("tcp", "icmp", "icmpv6"))
        if kind.text == "tcp":
            self.expect(("reset",))
            self.words += ["with", "tcp", "reset"]
            label = "'reject with tcp reset'"
            self.add_protocols(_Protocols(label, token.position, ("tcp",), True))
            return "reject"
        self.expect(("type",))
        icmp = kind.text == "icmp"
        code = self.expect(ICMP_REJECT_TYPES if icmp else ICMPV6_REJECT_TYPES)
        label = f"'reject with {kind.text} type'"
        self.need_family("ip" if icmp else "ip6", label, token.position)
        self.words += ["with", kind.text, "type", code.text]
        return "reject"

    # -- consistency between matches

    def need_family(self, family: str, label: str, position: int) -> None:
        for other, other_label in self.families.items():
            if other != family:
                raise InvalidArgument(
                    f"Mixed address families: {label} at position {position} is "
                    f"{_FAMILY_NAMES[family]} but {other_label} is {_FAMILY_NAMES[other]}; "
                    "write one rule per family"
                )
        self.families.setdefault(family, label)

    def add_protocols(self, new: _Protocols) -> None:
        for old in self.protocols:
            # Two selectors may differ (the rule just never matches); a header match needs
            # every other protocol match to name exactly its protocol, as nft requires.
            if (new.header or old.header) and new.names != old.names:
                raise InvalidArgument(
                    f"Conflicting protocols at position {new.position}: {new.describe()} "
                    f"but {old.describe()}"
                )
        self.protocols.append(new)


def _unexpected(token: _Token, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"Unexpected {token.text!r} at position {token.position}: expected {expected}"
    )


def parse_rule(text: str) -> AclRule:
    """Check an ACL rule against the grammar; return it in canonical form.

    Raises InvalidArgument naming the offending character or token and what was expected.
    """
    return _Parser(_tokenize(text)).rule()
