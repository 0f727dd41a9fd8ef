"""Web app: JSON API, pages and live updates."""
