"""Blueprints of the web app: pages, JSON API, itinerary card, verification."""
