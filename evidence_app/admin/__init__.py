"""Administration: users and assignments, the audit log, backup/restore, verify."""
