"""BuildKit-compatible shell word lexer."""
