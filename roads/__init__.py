"""All Roads To Memory: the engine that compiles, runs, captures, analyses and draws samples.

Nothing in this package imports MkDocs: the site generator only calls into it.
"""

__version__ = "0.1.0"
