"""Coverage and audit: what lacks evidence, findings, responsibilities and tasks,
the XLSX report and the ZIP evidence package."""
