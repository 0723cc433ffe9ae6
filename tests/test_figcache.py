"""The figure cache never serves a figure made from other inputs."""

from __future__ import annotations

from roads.figures.figcache import FigureCache, code_digest


def test_a_hit_needs_the_same_parts_and_the_same_code(tmp_path):
    made = []

    def make(text):
        def inner():
            made.append(text)
            return text
        return inner

    cache = FigureCache(tmp_path, "code-1")
    assert cache.get(["memory_map", ["layout"], "digest-a"], make("A")) == "A"
    assert cache.get(["memory_map", ["layout"], "digest-a"], make("again")) == "A"
    assert cache.get(["memory_map", ["layout"], "digest-b"], make("B")) == "B"
    # A new process (new object) finds the file; new drawing code does not.
    assert FigureCache(tmp_path, "code-1").get(["memory_map", ["layout"], "digest-a"],
                                               make("never")) == "A"
    assert FigureCache(tmp_path, "code-2").get(["memory_map", ["layout"], "digest-a"],
                                               make("C")) == "C"
    assert made == ["A", "B", "C"]


def test_code_digest_follows_the_files(tmp_path):
    one = tmp_path / "a.py"
    one.write_text("x = 1\n")
    before = code_digest([one])
    one.write_text("x = 2\n")
    assert code_digest([one]) != before
