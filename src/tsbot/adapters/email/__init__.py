"""Outgoing email (SMTP)."""
