"""Migrations create the schema on SQLite and PostgreSQL, and running them again is a no-op."""

from __future__ import annotations

from sqlalchemy import inspect

from storage import Base, create_db_engine, current_revision, head_revision, upgrade_database


def test_upgrade_is_idempotent_and_matches_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) is None
        assert upgrade_database(engine) == head_revision()
        assert upgrade_database(engine) == head_revision()
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set(Base.metadata.tables)
        for name, table in Base.metadata.tables.items():
            columns = {c["name"] for c in inspect(engine).get_columns(name)}
            assert columns == {c.name for c in table.columns}, name
    finally:
        engine.dispose()


def test_cli_init_twice(invoke) -> None:
    first = invoke("init")
    second = invoke("init")
    assert first.exit_code == 0 and second.exit_code == 0
    assert "数据库已就绪" in second.output


def test_user_add_and_list(invoke) -> None:
    import json

    result = invoke(
        "user", "add", "张三", "--role", "staff", "--password-stdin", input="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    short = invoke("user", "add", "李四", "--role", "staff", "--password-stdin", input="x\n")
    assert short.exit_code == 1 and "密码至少" in short.output
    dup = invoke(
        "user", "add", "张三", "--role", "staff", "--password-stdin", input="another-pass\n"
    )
    assert dup.exit_code == 1 and "已存在" in dup.output
    bad_role = invoke(
        "user", "add", "王五", "--role", "boss", "--password-stdin", input="abcdefgh\n"
    )
    assert bad_role.exit_code == 2
    rows = json.loads(invoke("user", "list", "--json").output)
    assert [(r["username"], r["role"]) for r in rows] == [("张三", "staff")]
