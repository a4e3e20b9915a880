"""erp_bridge: two-way sync between crm_core and ERP systems (Odoo first).

Not built yet: this package only reserves its place in the layout.
"""
