"""--report: one self-contained HTML page of a project (issue 26).

records (one file read safely) → cards, gather (what a project keeps, as data) →
markdown, graph, views (HTML, every text escaped) → page (the document, its policy,
the write) ← face/report.py (the flag). markdown-it-py is imported by nothing else.
`junit` writes grades as JUnit XML (--junit FILE) for CI.
"""
