"""Request and response bodies. Request models refuse unknown fields."""
