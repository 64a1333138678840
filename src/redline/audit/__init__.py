"""Audits of analytics data already sent: reading vendor exports and analysing them."""
