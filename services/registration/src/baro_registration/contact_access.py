"""Who reads or changes contacts, and which contact fields each audience may see.

- everything: admin, and the structure itself (its own token);
- invoicing (finance): the name and email of whoever signs and receives the order form,
  the decision-maker, or the referrer when there is none; never a phone number;
- nothing: every other role, and every listing of registrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ROLES = ("referrer", "decision_maker")


class Audience(StrEnum):
    EVERYTHING = "everything"
    INVOICING = "invoicing"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Actor:
    """Who acts on contacts: the role they act in (admin, structure, finance…), their
    token's subject, and what they may see."""

    role: str
    subject: str
    audience: Audience = Audience.NOTHING


def visible_contacts(contacts: dict[str, Any], audience: Audience) -> dict[str, Any]:
    """The part of `contacts` this audience may see."""
    if audience is Audience.EVERYTHING:
        return {role: dict(contacts[role]) for role in ROLES if contacts.get(role)}
    if audience is Audience.INVOICING:
        signer = "decision_maker" if contacts.get("decision_maker") else "referrer"
        person = contacts.get(signer)
        return {signer: {"name": person["name"], "email": person["email"]}} if person else {}
    return {}


def fields_of(contacts: dict[str, Any]) -> list[str]:
    """The fields present in `contacts`, as `referrer.email`…, for the access log."""
    return [f"{role}.{field}" for role in ROLES for field in sorted(contacts.get(role) or {})]


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The fields a correction from `before` to `after` changes, adds or removes."""
    names = sorted(set(fields_of(before)) | set(fields_of(after)))
    return [name for name in names if _value(before, name) != _value(after, name)]


def _value(contacts: dict[str, Any], name: str) -> Any:
    role, field = name.split(".")
    return (contacts.get(role) or {}).get(field)
