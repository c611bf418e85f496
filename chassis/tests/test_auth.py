from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from baro_chassis.auth import Role, decode_token, issue_token
from baro_chassis.errors import ApiError
from baro_chassis.settings import DEV_ONLY_JWT_SECRET, Settings

SECRET = "unit-test-secret-unit-test-secret-0000"


def test_a_role_token_round_trips() -> None:
    principal = decode_token(SECRET, issue_token(SECRET, roles=(Role.FINANCE, Role.AUDITOR)))
    assert principal.roles == {Role.FINANCE, Role.AUDITOR}
    assert principal.registration_id is None


def test_a_structure_token_is_scoped_to_its_registration() -> None:
    registration_id = uuid4()
    principal = decode_token(SECRET, issue_token(SECRET, registration_id=registration_id))
    assert principal.roles == frozenset()
    assert principal.is_structure_of(registration_id)
    assert not principal.is_structure_of(uuid4())


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue_token("another-secret-another-secret-0000", roles=(Role.ADMIN,)), "invalid"),
        (issue_token(SECRET, roles=(Role.ADMIN,), ttl=timedelta(seconds=-1)), "expired"),
        ("not-a-jwt", "invalid"),
    ],
)
def test_bad_tokens_are_refused_with_401(token: str, reason: str) -> None:
    with pytest.raises(ApiError) as refused:
        decode_token(SECRET, token)
    assert refused.value.status == 401
    assert reason in refused.value.message


def test_a_token_needs_a_role_or_a_scope() -> None:
    with pytest.raises(ValueError, match="role or a registration"):
        issue_token(SECRET)


def test_production_refuses_the_dev_only_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARO_ENV", "production")
    monkeypatch.delenv("BARO_JWT_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="BARO_JWT_SECRET"):
        Settings.from_env("registration")
    monkeypatch.setenv("BARO_JWT_SECRET", "a-real-secret-from-the-vault-0123456789")
    assert Settings.from_env("registration").jwt_secret != DEV_ONLY_JWT_SECRET
