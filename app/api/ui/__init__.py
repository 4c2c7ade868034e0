"""The dashboard at /ui (server-rendered Jinja2 pages, a little plain JavaScript, Vega-Lite charts), the
self-contained HTML report, and /docs and /redoc, every script, style sheet and font served from `static/`."""
