"""The figure half: choose from capture documents and draw them (tables, diagrams, diffs,
ELF to memory, page views). Reads documents only: never imports roads.capture."""
