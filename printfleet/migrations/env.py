"""Alembic environment: runs printfleet's migrations on the engine it is given."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from printfleet.models import StrEnumType, UTCDateTime

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render printfleet's column types as the plain types they store, so migrations outlive the models."""
    if type_ == "type" and isinstance(obj, StrEnumType):
        return "sa.String(length=24)"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations() -> None:
    """Run migrations online against the engine in the Alembic config."""
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
