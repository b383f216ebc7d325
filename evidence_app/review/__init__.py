"""Internal review: document verdicts, expert scores per indicator, comments."""
