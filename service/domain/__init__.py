"""Domain operations: load facts → decide (policies/) → act and audit, in one transaction.

Handlers call exactly one of these; they hold no SQL and no access rule.
"""
