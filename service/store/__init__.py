"""Storage: one module per aggregate, SQL as named constants, the connection first."""
