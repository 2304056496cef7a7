"""The command line: thin modules that parse arguments, call the library and render."""
