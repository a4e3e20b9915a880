"""Odoo (16-19) for erp_bridge: the adapter over odoo-client-lib and the field maps."""

from erp_bridge.odoo.adapter import OdooAdapter

__all__ = ["OdooAdapter"]
