"""Operations: health and readiness, Prometheus metrics, backup and restore, the dead-letter view."""
