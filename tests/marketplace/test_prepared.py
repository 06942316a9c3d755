"""``marketplace.prepared``: named SQL statements prepared once per connection."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from marketplace import prepared

# Tests that close the connection must not run inside the test's transaction.
fresh_sessions = pytest.mark.django_db(transaction=True)

ECHO = prepared.Statement(
    "ft_test_echo", "SELECT %(a)s::int + %(b)s::int, %(a)s::int * 2, '100%%' AS pct"
)


def _prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def _run(values: dict) -> tuple:
    with connection.cursor() as cursor:
        ECHO.execute(cursor, values)
        return cursor.fetchone()


@pytest.mark.django_db
def test_placeholders_become_numbered_parameters_once_each():
    assert ECHO.names == ["a", "b"]
    assert ECHO._prepare == (
        "PREPARE ft_test_echo AS SELECT $1::int + $2::int, $1::int * 2, '100%' AS pct"
    )
    assert ECHO._execute == "EXECUTE ft_test_echo(%(a)s, %(b)s)"
    assert _run({"a": 2, "b": 3, "unused": 9}) == (5, 4, "100%")


@fresh_sessions
def test_prepared_once_per_connection_and_again_on_a_new_one():
    connection.close()
    assert "ft_test_echo" not in _prepared_here()
    assert _run({"a": 1, "b": 1})[0] == 2
    assert "ft_test_echo" in _prepared_here()
    assert _run({"a": 5, "b": 1})[0] == 6  # no second PREPARE (it would fail: name taken)
    connection.close()  # a new session has none of the old one's statements
    assert _run({"a": 7, "b": 1})[0] == 8


@fresh_sessions
def test_a_rolled_back_transaction_keeps_the_statement():
    connection.close()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert _run({"a": 1, "b": 2})[0] == 3  # prepared inside the transaction
        raise ZeroDivisionError
    assert _run({"a": 3, "b": 4})[0] == 7


def test_a_missing_value_is_an_error_before_anything_is_sent():
    with pytest.raises(KeyError, match="'b'"):
        ECHO.params({"a": 1})


def test_statements_from_text_are_made_once_and_named_by_their_text():
    one = prepared.statement("ft_t", "SELECT %(x)s::int")
    assert prepared.statement("ft_t", "SELECT %(x)s::int") is one
    other = prepared.statement("ft_t", "SELECT %(x)s::int + 1")
    assert other.name != one.name and other.name.startswith("ft_t_")


@pytest.mark.parametrize("name", ["Bad", "1x", "x-y", "x" * 64, "drop table"])
def test_names_must_be_plain_identifiers(name):
    with pytest.raises(ValueError, match="bad statement name"):
        prepared.Statement(name, "SELECT 1")


@fresh_sessions
def test_switched_off_the_statements_run_as_plain_sql(settings):
    """Behind PgBouncer in transaction mode (DB_PREPARED_STATEMENTS=0) nothing is
    prepared: consecutive transactions may run in different sessions."""
    settings.FAIRTASK_PREPARED_STATEMENTS = False
    connection.close()
    assert ECHO.sql() == ECHO.text
    assert _run({"a": 2, "b": 3}) == (5, 4, "100%")
    assert "ft_test_echo" not in _prepared_here()


def test_the_setting_follows_persistent_connections_unless_given():
    from marketplace.settings.env import database_settings, prepared_statements

    def decide(env: dict) -> bool:
        return prepared_statements(database_settings(url="postgresql://u@h/db", environ=env), env)

    assert decide({}) is True
    assert decide({"CONN_MAX_AGE": "0"}) is False
    assert decide({"DB_PREPARED_STATEMENTS": "0"}) is False
    assert decide({"CONN_MAX_AGE": "0", "DB_PREPARED_STATEMENTS": "1"}) is True
