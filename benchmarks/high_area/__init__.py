"""The high-area and optimizer-settings study (issue 41): ``study.py`` runs it, ``report.py`` reads it."""
