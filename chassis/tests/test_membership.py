"""An edition's members, listed beside the event store: on real PostgreSQL, filled on
creation from the events that listed them in the edition's aggregate."""

from __future__ import annotations

from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.domain import Aggregate, event

from baro_chassis.eventstore import TracedApplication
from baro_chassis.membership import open_membership
from baro_chassis.postgres import eventsourcing_env

pytestmark = pytest.mark.integration

LEGACY_TOPIC = f"{__name__}:Group.MemberAdmitted"


class Group(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(UUID(int=0), name)

    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("MemberAdmitted")
    def admit(self, member_id: UUID) -> None:
        pass


class Groups(TracedApplication):
    name = "membership_test"


def test_members_listed_before_the_table_existed_are_found_after_it(database_url: str) -> None:
    app = Groups(env=eventsourcing_env(database_url))
    earlier, other = Group("2026"), Group("2027")
    members = [uuid4() for _ in range(3)]
    for member in members:
        earlier.admit(member)
    other.admit(uuid4())
    app.save(earlier, other)

    first = open_membership(app, "group_members", LEGACY_TOPIC, "member_id")
    assert first.members(earlier.id) == members
    assert first.count(other.id) == 1
    later = uuid4()
    first.add(earlier.id, later)
    first.add(earlier.id, later)  # a retried command adds no one twice

    again = open_membership(app, "group_members", LEGACY_TOPIC, "member_id")
    assert again.members(earlier.id) == [*members, later], "opened again, in the order added"
    assert again.members(Group.create_id("2030")) == []
    app.close()
