"""Users, roles and permissions, sign-in and tokens, two-factor sign-in, API keys and the audit log.

Start with :class:`tsbot.accounts.service.AccountService`; the vocabulary is in :mod:`tsbot.accounts.models`
(roles, permissions, users, identities), :mod:`tsbot.accounts.records` (what stores keep) and
:mod:`tsbot.accounts.results` (secrets handed out once); the errors and their HTTP statuses are in
:mod:`tsbot.accounts.errors`.
"""
