"""The capture half: compile, run in the sandbox, read /proc and ELF, write and compare
capture documents, decide freshness. Never imports roads.figures or roads.words."""
