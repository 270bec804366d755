"""The package every Sealy function shares: settings, database, HTTP, auth, logging, schemas."""
