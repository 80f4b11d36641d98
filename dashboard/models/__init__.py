"""Target models and tokenizers: loading them, and training the small demo model."""
