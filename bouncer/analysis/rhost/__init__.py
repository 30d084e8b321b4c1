"""Remote-host knowledge: what large mailbox providers mean by their own codes and texts.

Each module covers one provider: ``HOSTS`` (host-name suffixes of its MX servers),
``SIGNS`` (lower-case strings its diagnostics carry, such as its help-page URLs) and
``reason(status, diagnostic)`` reading its documented error codes. The provider is chosen
by evidence (the Remote-MTA, else a signature in the text), and only one is asked.
"""

from __future__ import annotations

from types import ModuleType

from bouncer.analysis.rhost import (
    apple,
    cox,
    franceptt,
    godaddy,
    google,
    kddi,
    messagelabs,
    microsoft,
    mimecast,
    nttdocomo,
    spectrum,
    tencent,
    verizon,
    yahoo,
)
from bouncer.analysis.taxonomy import Reason

PROVIDERS: tuple[ModuleType, ...] = (
    google, microsoft, yahoo, apple, franceptt, godaddy, tencent, mimecast, messagelabs, cox, spectrum,
    nttdocomo, kddi, verizon,
)  # fmt: skip


# Lookup tables built once: host suffixes, recipient domains and text signs per provider.
_HOSTS: tuple[tuple[tuple[str, ...], ModuleType], ...] = tuple((m.HOSTS, m) for m in PROVIDERS)
_ALL_HOSTS: tuple[str, ...] = tuple(suffix for hosts, _ in _HOSTS for suffix in hosts)
_DOMAINS: dict[str, ModuleType] = {d: m for m in PROVIDERS for d in getattr(m, "DOMAINS", ())}

# Most texts hold no sign, and every sign is then searched for: ~36 searches of the whole
# text. Signs holding one of these strings are searched only in texts that hold it (most
# do not): about 20 searches then. (Common pieces of the signs, rare in diagnostics.)
_SIGN_GATES = (".com", ".net", "deliver", "resolver.", "_")


def _sign_groups() -> tuple[tuple[str, tuple[tuple[int, str], ...]], ...]:
    """The signs by gate ("" for those with none), as (provider's rank, sign) in rank order.
    A sign holding another sign of its provider is left out: it says nothing more."""
    groups: dict[str, list[tuple[int, str]]] = {gate: [] for gate in ("", *_SIGN_GATES)}
    for rank, module in enumerate(PROVIDERS):
        for sign in dict.fromkeys(module.SIGNS):
            if any(other != sign and other in sign for other in module.SIGNS):
                continue
            gate = next((gate for gate in _SIGN_GATES if gate in sign), "")
            groups[gate].append((rank, sign))
    return tuple((gate, tuple(signs)) for gate, signs in groups.items() if signs)


_SIGN_GROUPS = _sign_groups()


def provider_for(remote_mta: str, diagnostic_lower: str, recipient_domain: str = "") -> ModuleType | None:
    """The provider by its MX host, else by the recipient's domain, else by signs in the text."""
    host = remote_mta.lower().strip().rstrip(".") if remote_mta else ""  # most reports name none
    if host and host.endswith(_ALL_HOSTS):  # one test in C rejects most hosts
        for hosts, module in _HOSTS:
            if host.endswith(hosts):
                return module
    if recipient_domain:
        by_domain = _DOMAINS.get(recipient_domain)
        if by_domain is None and recipient_domain.count(".") > 1:
            by_domain = _DOMAINS.get(recipient_domain.split(".", 1)[1])  # a subdomain of theirs
        if by_domain is not None:
            return by_domain
    if not diagnostic_lower:
        return None
    return _provider_by_signs(diagnostic_lower)


def _provider_by_signs(diagnostic_lower: str) -> ModuleType | None:
    """The first provider (in PROVIDERS' order) one of whose signs the text holds."""
    best = len(PROVIDERS)
    for gate, signs in _SIGN_GROUPS:
        if gate and gate not in diagnostic_lower:
            continue
        for rank, sign in signs:
            if rank >= best:
                break  # a provider after the one found already
            if sign in diagnostic_lower:
                best = rank
                break
    return PROVIDERS[best] if best < len(PROVIDERS) else None


def reason_from_provider(
    remote_mta: str,
    status: str,
    diagnostic: str,
    recipient_domain: str = "",
    command: str = "",
    *,
    by_signs: bool = True,
    diagnostic_is_lower: bool = False,
) -> Reason | None:
    """The reason in the provider's own documented terms, None when no provider applies or
    its tables say nothing about this reply. ``diagnostic_is_lower``: the caller lower-cased
    the diagnostic already."""
    # The provider by host and domain first: the text is lower-cased only when its signs
    # are to be read or a provider's tables will read it (most reports name no provider).
    module = provider_for(remote_mta, "", recipient_domain)
    if module is None and not by_signs:
        return None
    lowered = diagnostic if diagnostic_is_lower else diagnostic.lower()
    if module is None:
        module = _provider_by_signs(lowered)
        if module is None:
            return None
    if getattr(module, "USES_COMMAND", False):
        with_command: Reason | None = module.reason(status, lowered, command)
        return with_command
    found: Reason | None = module.reason(status, lowered)
    return found
