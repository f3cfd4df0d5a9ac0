"""Shared vocabulary of tsbot: errors, enums and UTC time helpers. Standard library only."""
