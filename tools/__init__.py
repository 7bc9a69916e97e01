"""Developer tools behind the Makefile: type-checking, building and flashing the firmware."""
