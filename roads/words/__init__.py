"""The words of a page: captured values, the tested claims, defined terms, the code beside a
figure, page conventions and captured text kept from being markup. Reads documents
only: never imports roads.capture."""
