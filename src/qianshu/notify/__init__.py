"""E-mail and SMS: message templates, the outbox, provider adapters and the SMS sandbox."""
