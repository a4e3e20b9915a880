"""Exchange rates: how many units of one currency one unit of another is worth, by day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, UTCDateTime

#: Where a rate came from: the ERP's own table (sync), a CSV/XLSX file, or typed by hand.
RATE_SOURCES = ("erp", "file", "manual")

#: A rate's column: exact on PostgreSQL; SQLite keeps 15 significant digits, which is
#: as many as crm_core keeps of a rate (crm_core.money rounds every rate to them).
RATE = Numeric(36, 18, asdecimal=True)


class ExchangeRate(Base):
    """On ``day``, one unit of ``base`` is worth ``rate`` units of ``currency``.

    This is the ERP's convention (Odoo: units of a currency per one company currency),
    so its rows are stored as they come. The base is always explicit: rates relative
    to several bases can live side by side, and conversions cross through them
    (see :class:`crm_core.money.Rates`). One rate per pair and day.
    """

    __tablename__ = "exchange_rates"
    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    base: Mapped[str] = mapped_column(String(3))
    day: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(RATE)
    source: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("uq_exchange_rates_pair_day", "currency", "base", "day", unique=True),)
