"""Declarative base, column types and mixins shared by every table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
    event,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from crm_core import collation

# Deterministic constraint names keep Alembic migrations portable (SQLite batch mode
# needs names to drop constraints).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    Naive datetimes are refused on write (their zone is unknown); values read back are
    always aware and in UTC, including from SQLite, which stores no zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone (crmbook stores UTC)")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: Decimal places a Money column holds: enough for every currency's minor units
#: (KWD/BHD/OMR 3, JPY 0, most 2); crm_core rounds each amount to its own currency's
#: before writing it (:func:`crm_core.validation.currency_amount`).
MONEY_SCALE = 4
_CENT = Decimal("0.01")
_SCALE = Decimal(1).scaleb(-MONEY_SCALE)


def money_value(amount: Decimal) -> Decimal:
    """``amount`` as a Money column hands it back: its own decimals, at least the cents
    (``1500`` -> ``1500.00``, ``1.2350`` -> ``1.235``), at most :data:`MONEY_SCALE`."""
    if amount.as_tuple().exponent >= -2:  # type: ignore[operator]
        return amount.quantize(_CENT)
    exact = amount.quantize(_SCALE).normalize()
    return exact if exact.as_tuple().exponent < -2 else exact.quantize(_CENT)  # type: ignore[operator]


class MoneyType(TypeDecorator[Decimal]):
    """An exact amount of money: NUMERIC(20, 4), read back as :func:`money_value` gives.

    SQLite keeps NUMERIC as a double (15 significant digits, all crm_core lets an amount
    have: :data:`crm_core.validation.MONEY_LIMIT`); the double is read through its 15
    significant digits, so a sum of amounts comes back as its decimal value, not as the
    double's binary tail. PostgreSQL keeps the decimal itself.
    """

    impl = Numeric(20, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(20, MONEY_SCALE, asdecimal=False))
        return dialect.type_descriptor(self.impl)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(f"{value:.15g}")
        return money_value(Decimal(value))


Money = MoneyType()
MONEY_ZERO = Decimal("0.00")


class Base(DeclarativeBase):
    """Declarative base of all crm_core tables."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Versioned:
    """A row that staff edit: optimistic locking plus creation/update stamps.

    ``version`` is SQLAlchemy's ``version_id_col``: an UPDATE carries
    ``WHERE version = <read version>`` and a stale one affects no row.
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class SortedByName:
    """A record listed in its name's alphabetical order: ``sort_key`` is
    :func:`crm_core.collation.sort_key` of ``name``, set here on every insert and
    update through the ORM (bulk writers set it themselves: crm_core.loaders)."""

    sort_key: Mapped[str] = mapped_column(
        String(collation.KEY_LENGTH), nullable=False, default="", server_default=""
    )


@event.listens_for(SortedByName, "before_insert", propagate=True)
@event.listens_for(SortedByName, "before_update", propagate=True)
def _name_sorted(_mapper: Any, _connection: Any, target: Any) -> None:
    target.sort_key = collation.sort_key(target.name)
