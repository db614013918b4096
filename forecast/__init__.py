"""riskcard's core engine: pure, vectorised functions from feeds to stays, itineraries, flows,
companions, forecasts and grades. No Flask, SQLite or network in this package."""
