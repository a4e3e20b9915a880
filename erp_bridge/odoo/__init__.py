"""Odoo (16-19) for erp_bridge: the adapter over odoo-client-lib and the field maps."""
