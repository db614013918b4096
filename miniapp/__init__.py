"""The riskcard web app: snapshot build and serving, pages, JSON API, itinerary card and verify."""
