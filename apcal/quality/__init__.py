"""Quality: bad-frame screening, master statistics, previews and the HTML run report.

Only :mod:`.screening` is imported by the engines' hot path; the report modules import matplotlib and
Jinja2 lazily.
"""
