"""Pure pricing: fees now, tariffs and the taxi meter later. No I/O, no SQLAlchemy."""
